---@mod odw.workflow Which buffers are odw workflow scripts (the server attaches to those only).
local config = require("odw.config")

local M = {}

-- Relative globs match at any depth, as the server matches them.
local function anchored(glob)
  if glob:sub(1, 1) == "/" or glob:sub(1, 3) == "**/" then
    return glob
  end
  return "**/" .. glob
end

local function matches_globs(path)
  for _, glob in ipairs(config.options.workflow_globs) do
    if vim.glob.to_lpeg(anchored(glob)):match(path) then
      return true
    end
  end
  return false
end

-- The entry points the server looks for, as Lua patterns on one line.
local entry_patterns = {
  "^%s*export%s+const%s+meta[%s=:]",
  "function%*?%s+execute%s*%(",
  "exports%.execute%s*=",
  "async%s+execute%s*%(",
  "[^%w_$.]execute%s*=[^=]",
  "^execute%s*=[^=]",
}

local function defines_entry(bufnr)
  for _, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, 500, false)) do
    for _, pat in ipairs(entry_patterns) do
      if line:find(pat) then
        return true
      end
    end
  end
  return false
end

--- Whether a buffer is a workflow script: its path matches the globs, or (with
--- `detect_content`) it defines `execute` or `export const meta`.
---@param bufnr integer
function M.is_workflow(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path ~= "" and matches_globs(path) then
    return true
  end
  return config.options.detect_content and defines_entry(bufnr)
end

--- The workspace root of a buffer: the nearest directory with a root marker, else its own.
---@param bufnr integer
function M.root(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  return vim.fs.root(bufnr, config.options.root_markers)
    or (path ~= "" and vim.fs.dirname(path))
    or vim.fn.getcwd()
end

return M
