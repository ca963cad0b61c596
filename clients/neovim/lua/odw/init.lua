---@mod odw odw.nvim: run odw multi-agent workflow scripts from Neovim.
local M = {}

--- Configures the plugin and enables the `odw` language server (see :help odw-setup).
---@param opts? table
function M.setup(opts)
  local config = require("odw.config")
  config.set(opts)
  local o = config.options
  -- Overrides merged over lsp/odw.lua.
  vim.lsp.config("odw", {
    cmd = o.cmd,
    filetypes = o.filetypes,
    init_options = config.init_options(),
  })
  if o.enable then
    vim.lsp.enable("odw")
  end
end

--- Code lenses of odw buffers, kept fresh (the server offers ▶ Run, Dry run and ⟳ Resume).
---@param client vim.lsp.Client
---@param bufnr integer
function M.on_attach(client, bufnr)
  if not require("odw.config").options.codelens or not client:supports_method("textDocument/codeLens") then
    return
  end
  local group = vim.api.nvim_create_augroup("odw.codelens." .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "BufWritePost" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      vim.lsp.codelens.refresh({ bufnr = bufnr })
    end,
  })
  vim.lsp.codelens.refresh({ bufnr = bufnr })
end

return M
