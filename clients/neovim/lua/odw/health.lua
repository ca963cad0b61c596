---@mod odw.health :checkhealth odw: the binary, its version, the server and the providers.
--- Keys are never shown: only whether they are set.
local M = {}

local h = vim.health

local key_vars = { "ANTHROPIC_API_KEY", "OPENAI_API_KEY" }
local endpoint_vars = { "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "OLLAMA_HOST" }

local function check_binary(cmd)
  local exe = vim.fn.exepath(cmd[1])
  if exe == "" then
    h.error(("`%s` is not on the PATH"):format(cmd[1]), {
      "Build and install it: cargo install --path sidecar (from the odw repository)",
      'Or point the plugin at it: require("odw").setup({ cmd = { "/path/to/odw", "lsp" } })',
    })
    return
  end
  h.ok("binary: " .. exe)
  local res = vim.system({ exe, "--version" }, { text = true }):wait(5000)
  local version = vim.trim(res.stdout or "")
  if res.code == 0 and version ~= "" then
    h.ok("version: " .. version)
  else
    h.warn(("`%s --version` failed (exit %s): %s"):format(exe, tostring(res.code), vim.trim(res.stderr or "")))
  end
end

local function check_server()
  local clients = vim.lsp.get_clients({ name = "odw" })
  if #clients == 0 then
    h.info("language server: not running (it starts when a workflow script is opened)")
  end
  for _, c in ipairs(clients) do
    h.ok(("language server: running (client %d, root %s)"):format(c.id, c.root_dir or "none"))
  end
end

--- `[providers.<name>]` sections of a TOML file, with whether each sets a key: a line scan,
--- enough for a health report, that never keeps a value.
local function providers_in(path)
  local found, current = {}, nil
  for line in io.lines(path) do
    local section = line:match("^%s*%[([^%]]+)%]")
    if section then
      local name = section:match("^providers%.([%w_%-]+)$")
      current = name and { name = name, key = false } or nil
      if current then
        found[#found + 1] = current
      end
    elseif current and line:match("^%s*api_key%s*=") then
      current.key = true
    end
  end
  return found
end

local function check_config_file(path, label)
  if vim.fn.filereadable(path) == 0 then
    h.info(("%s: none (%s)"):format(label, path))
    return 0
  end
  local providers = providers_in(path)
  local names = vim.tbl_map(function(p)
    return p.name .. (p.key and " (api_key set)" or "")
  end, providers)
  h.ok(("%s: %s; providers: %s"):format(label, path, #names > 0 and table.concat(names, ", ") or "none"))
  return #providers
end

local function check_providers()
  local configured = 0
  for _, var in ipairs(key_vars) do
    if (vim.env[var] or "") ~= "" then
      h.ok(var .. " is set")
      configured = configured + 1
    else
      h.info(var .. " is not set")
    end
  end
  for _, var in ipairs(endpoint_vars) do
    if (vim.env[var] or "") ~= "" then
      h.ok(var .. " is set")
      configured = configured + 1
    end
  end
  if (vim.env.ODW_MODEL or "") ~= "" then
    h.ok("ODW_MODEL: " .. vim.env.ODW_MODEL)
  end
  local root = vim.fs.root(0, require("odw.config").options.root_markers) or vim.fn.getcwd()
  configured = configured + check_config_file(vim.fs.joinpath(root, "odw.toml"), "workspace config")
  local xdg = vim.env.XDG_CONFIG_HOME or vim.fs.joinpath(vim.env.HOME or "~", ".config")
  configured = configured + check_config_file(vim.fs.joinpath(xdg, "odw", "config.toml"), "user config")
  if configured == 0 then
    h.warn("no model provider is configured", {
      "Export ANTHROPIC_API_KEY or OPENAI_API_KEY, set OLLAMA_HOST,",
      "or add a [providers.<name>] section to odw.toml",
    })
  end
end

function M.check()
  h.start("odw")
  if vim.fn.has("nvim-0.11") == 1 then
    h.ok("Neovim " .. tostring(vim.version()))
  else
    h.error("odw.nvim needs Neovim 0.11 or newer")
  end
  check_binary(require("odw.config").options.cmd)
  check_server()
  h.start("odw: providers")
  check_providers()
end

return M
