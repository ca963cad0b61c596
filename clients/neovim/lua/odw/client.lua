---@mod odw.client Finding the odw client and sending it requests.
local M = {}

M.name = "odw"

--- The odw client attached to `bufnr`, else any running odw client.
---@param bufnr? integer
---@return vim.lsp.Client?
function M.get(bufnr)
  local attached = vim.lsp.get_clients({ name = M.name, bufnr = bufnr or 0 })
  if attached[1] then
    return attached[1]
  end
  return vim.lsp.get_clients({ name = M.name })[1]
end

--- Like get(), but tells the user what to do when there is no client.
---@param bufnr? integer
---@return vim.lsp.Client?
function M.require(bufnr)
  local client = M.get(bufnr)
  if not client then
    vim.notify(
      "odw: the odw language server is not running here: open a workflow script "
        .. "(*.workflow.js, workflows/*.js) or see :checkhealth odw",
      vim.log.levels.ERROR
    )
  end
  return client
end

--- Sends an `odw/*` request; `on_result` runs on success, errors are shown.
---@param client vim.lsp.Client
---@param method string
---@param params table?
---@param on_result fun(result: any)
---@param bufnr? integer
function M.request(client, method, params, on_result, bufnr)
  client:request(method, params or vim.empty_dict(), function(err, result)
    if err then
      vim.notify(("odw: %s failed: %s"):format(method, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    on_result(result)
  end, bufnr)
end

return M
