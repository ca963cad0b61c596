-- odw.nvim: commands for odw workflow scripts. The language server is enabled by
-- require("odw").setup{} (or vim.lsp.enable("odw")); see :help odw.
if vim.g.loaded_odw then
  return
end
vim.g.loaded_odw = true

if vim.fn.has("nvim-0.11") == 0 then
  vim.notify_once("odw.nvim needs Neovim 0.11 or newer", vim.log.levels.WARN)
  return
end

local function commands()
  return require("odw.commands")
end

local function run_arg(o)
  return o.args ~= "" and o.args or nil
end

local function complete_runs(arglead)
  return commands().complete_runs(arglead)
end

local command = vim.api.nvim_create_user_command

command("OdwRun", function(o)
  commands().run({ args = run_arg(o) })
end, { nargs = "?", desc = "odw: run the current workflow script ([args-json])" })

command("OdwDryRun", function(o)
  commands().run({ args = run_arg(o), dry_run = true })
end, { nargs = "?", desc = "odw: estimate agents and cost of the current script without calling models" })

command("OdwCancel", function(o)
  commands().cancel(run_arg(o))
end, { nargs = "?", complete = complete_runs, desc = "odw: cancel a run (default: the newest live run)" })

command("OdwResume", function(o)
  commands().resume(run_arg(o))
end, { nargs = "?", complete = complete_runs, desc = "odw: resume a run (default: the newest resumable)" })

command("OdwRuns", function()
  commands().runs()
end, { nargs = 0, desc = "odw: pick a run and open its result" })

command("OdwPlan", function(o)
  commands().plan(o.args, { no_model = o.bang })
end, { nargs = "+", bang = true, desc = "odw: plan a workflow script for a task and open it (! : no model)" })

command("OdwResult", function(o)
  commands().result(run_arg(o))
end, { nargs = "?", complete = complete_runs, desc = "odw: open a run's result (default: the newest)" })

command("OdwPanel", function()
  require("odw.panel").toggle()
end, { nargs = 0, desc = "odw: toggle the run panel" })

vim.api.nvim_create_autocmd("LspAttach", {
  group = vim.api.nvim_create_augroup("odw", { clear = true }),
  desc = "odw: code lenses in workflow scripts",
  callback = function(ev)
    local c = vim.lsp.get_client_by_id(ev.data.client_id)
    if c and c.name == "odw" then
      require("odw").on_attach(c, ev.buf)
    end
  end,
})
