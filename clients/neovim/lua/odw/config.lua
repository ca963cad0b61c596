---@mod odw.config Options of odw.nvim, set with require("odw").setup{…}.
local M = {}

---@class odw.Options
M.defaults = {
  -- How to start the language server.
  cmd = { "odw", "lsp" },
  filetypes = { "javascript" },
  root_markers = { "odw.toml", ".odw", ".git" },
  -- The server attaches to buffers whose path matches one of these globs (the server's defaults)…
  workflow_globs = { "**/*.workflow.js", "**/workflows/*.js", ".odw/**/*.js" },
  -- …or, when true, to any JavaScript buffer that defines `execute` or `export const meta`.
  detect_content = true,
  -- Sent as initializationOptions: model, concurrency, config (odw.toml-shaped overrides).
  init_options = {},
  -- Calls vim.lsp.enable("odw") in setup().
  enable = true,
  -- Refreshes the server's code lenses (▶ Run, Dry run, ⟳ Resume) in workflow buffers.
  codelens = true,
  panel = {
    -- Open the run panel when a run starts: true, or false to open it with :OdwPanel only.
    auto_open = true,
    height = 10,
    -- Log lines kept per run.
    log_lines = 5,
    -- Runs shown, newest first.
    max_runs = 3,
  },
  result = {
    -- How a finished run's result opens: "split", "vsplit", "tab", or false (stay closed).
    open = "split",
  },
}

---@type odw.Options
M.options = vim.deepcopy(M.defaults)

---@param opts? table
function M.set(opts)
  opts = opts or {}
  vim.validate("opts", opts, "table")
  -- Lists (cmd, workflow_globs, …) replace the defaults; tables merge.
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
end

--- initializationOptions for the server: the user's, plus the workflow globs and the opt-in to
--- `odw/runEvent` notifications that feed the run panel.
function M.init_options()
  local o = vim.deepcopy(M.options.init_options)
  o.runEvents = true
  -- The server opens a result only when asked to; here it opens in a split of its own
  -- (`result.open`), never in place of the script.
  if o.openResult == nil then
    o.openResult = M.options.result.open ~= false
  end
  if not vim.deep_equal(M.options.workflow_globs, M.defaults.workflow_globs) then
    o.workflowGlobs = M.options.workflow_globs
  end
  return o
end

return M
