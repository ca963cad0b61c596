-- The odw language server, for vim.lsp.config / vim.lsp.enable (Neovim 0.11+).
-- require("odw").setup{} enables it; without the plugin's setup, `vim.lsp.enable("odw")` works too.
---@type vim.lsp.Config
return {
  cmd = { "odw", "lsp" },
  filetypes = { "javascript" },
  -- Attach to workflow scripts only, not to every JavaScript file.
  root_dir = function(bufnr, on_dir)
    local workflow = require("odw.workflow")
    if workflow.is_workflow(bufnr) then
      on_dir(workflow.root(bufnr))
    end
  end,
  -- odw/runEvent notifications feed the run panel (the server sends them on request only).
  init_options = { runEvents = true },
  capabilities = { experimental = { odwRunEvents = true } },
  handlers = {
    ["odw/runEvent"] = function(_, event, ctx)
      require("odw.panel").on_event(event, ctx.client_id)
    end,
    ["window/showMessage"] = function(_, params, ctx)
      return require("odw.results").show_message(params, ctx)
    end,
    ["window/showDocument"] = function(err, params, ctx)
      return require("odw.results").show_document(err, params, ctx)
    end,
  },
}
