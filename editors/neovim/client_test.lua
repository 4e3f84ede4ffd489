-- A real Neovim, headless and without plugins, as the client of `sprs lsp`: the built-in LSP client
-- (the API of Neovim 0.7, which Debian 12 ships, and of newer ones) opens main.sprs of a small
-- project and checks what a user sees, in order: the diagnostic of a misspelt name (E0101), its
-- quick fix applied to the buffer and the diagnostics gone, a rename of an imported item across
-- both files (main.sprs then checked against lib.sprs's unsaved buffer), the inlay hints of a train's plan, and a
-- clean shutdown. Run by
-- scripts/nvim_client_test.sh, which writes the project and passes SPRS_BINARY and SPRS_PROJECT.
-- Exits 0 on success, 1 on any failure (with what was expected and what came), a Lua error
-- included.

local TIMEOUT_MS = 10000

local function say(text)
  io.stdout:write(text .. '\n')
  io.stdout:flush()
end

local function fail(what, expected, got)
  error({ what = what, expected = expected, got = got }, 0)
end

local function show(value)
  return type(value) == 'string' and value or vim.inspect(value)
end

-- Waits up to TIMEOUT_MS for `ready()` to return a true value, which it returns; fails with `what`
-- and `got()` (what there was instead) if it never does.
local function wait_for(what, ready, got)
  local value
  local ok = vim.wait(TIMEOUT_MS, function()
    value = ready()
    return value and true or false
  end, 20)
  if not ok then
    fail(what .. ' (waited ' .. TIMEOUT_MS .. ' ms)', 'it to happen', got and got() or 'nothing')
  end
  return value
end

local function version_string()
  local v = vim.version()
  return string.format('%d.%d.%d', v.major, v.minor, v.patch)
end

local client_id, client
local exited = false -- once the server has exited: its exit code and signal
-- Every publishDiagnostics, counted, with the buffer and count of the last: a wait for a fresh
-- check after a step can tell it from what was published before.
local publishes = { count = 0 }

-- A request to the server, waited for; `client:request_sync` from 0.11 on (the `.` form is
-- deprecated there), `client.request_sync` before.
local function request(method, params, bufnr)
  local response, err
  if vim.fn.has('nvim-0.11') == 1 then
    response, err = client:request_sync(method, params, TIMEOUT_MS, bufnr)
  else
    response, err = client.request_sync(method, params, TIMEOUT_MS, bufnr)
  end
  if not response then
    fail(method, 'a response within ' .. TIMEOUT_MS .. ' ms', err or 'no response (the client is stopped?)')
  end
  if response.err then
    fail(method, 'a result', response.err)
  end
  return response.result
end

local function line(bufnr, index)
  return vim.api.nvim_buf_get_lines(bufnr, index, index + 1, false)[1]
end

local function expect_line(bufnr, index, want, what)
  local got = line(bufnr, index)
  if got ~= want then
    fail(what, string.format('line %d of %s to read %q', index, vim.api.nvim_buf_get_name(bufnr), want), got)
  end
end

-- The buffer's diagnostics, one line each, for a failure message.
local function diagnostics_of(bufnr)
  return vim.tbl_map(function(d)
    return string.format('%d:%d %s %s', d.lnum, d.col, tostring(d.code), d.message)
  end, vim.diagnostic.get(bufnr))
end

-- The LSP diagnostic a published one came from: 0.10 and later keep it whole in user_data.lsp;
-- 0.7 keeps only some fields there, so the range (bytes, the same as UTF-16 units in this ASCII
-- file), message, severity, source and code are rebuilt.
local function lsp_diagnostic(d)
  local lsp = d.user_data and d.user_data.lsp or {}
  if lsp.range and lsp.message then
    return lsp
  end
  return vim.tbl_extend('keep', {
    range = {
      start = { line = d.lnum, character = d.col },
      ['end'] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
    },
    message = d.message,
    severity = d.severity,
    source = d.source,
    code = d.code or lsp.code,
  }, lsp)
end

local function run()
  local binary = assert(os.getenv('SPRS_BINARY'), 'SPRS_BINARY is not set')
  local project = assert(os.getenv('SPRS_PROJECT'), 'SPRS_PROJECT is not set')
  local main_path = project .. '/main.sprs'
  local lib_path = project .. '/lib.sprs'

  -- `vim.lsp.start_client` is deprecated from 0.11 on, where `vim.lsp.start` can start a client
  -- without attaching it.
  local start = vim.lsp.start_client
  if vim.fn.has('nvim-0.11') == 1 then
    start = function(config)
      return vim.lsp.start(config, { attach = false })
    end
  end
  client_id = start({
    name = 'sprs',
    cmd = { binary, 'lsp' },
    root_dir = project,
    on_exit = function(code, signal)
      exited = { code = code, signal = signal }
    end,
    handlers = {
      ['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
        publishes.count = publishes.count + 1
        publishes[vim.uri_to_bufnr(result.uri)] = { seq = publishes.count, n = #result.diagnostics }
        return vim.lsp.handlers['textDocument/publishDiagnostics'](err, result, ctx, config)
      end,
    },
  })
  if not client_id then
    fail('starting the server', binary .. ' lsp to start', 'vim.lsp.start_client returned nil')
  end
  client = vim.lsp.get_client_by_id(client_id)

  -- a. Open main.sprs as a user would; the server publishes E0101 for `bsae`.
  vim.cmd('edit ' .. vim.fn.fnameescape(main_path))
  local main = vim.api.nvim_get_current_buf()
  vim.bo[main].filetype = 'sprs'
  if not vim.lsp.buf_attach_client(main, client_id) then
    fail('attaching to main.sprs', 'buf_attach_client to return true', false)
  end
  wait_for('the server to initialize', function()
    return client.initialized or exited
  end)
  if exited then
    fail('the server to initialize', 'it to answer `initialize`', 'it exited: ' .. show(exited))
  end
  local function e0101()
    for _, d in ipairs(vim.diagnostic.get(main)) do
      local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
      if code == 'E0101' or (d.severity == vim.diagnostic.severity.ERROR and d.message:find('bsae', 1, true)) then
        return d
      end
    end
  end
  local published = wait_for('a diagnostic E0101 for `bsae` on main.sprs', e0101, function()
    return diagnostics_of(main)
  end)
  if not published.message:find('bsae', 1, true) then
    fail('the E0101 diagnostic', 'a message naming `bsae`', published.message)
  end
  say('ok a: diagnostic ' .. tostring(published.code) .. ' at line ' .. published.lnum .. ': ' .. published.message)

  -- b. The quick fix at that diagnostic: "replace with `base`"; applied, the diagnostics go.
  local diagnostic = lsp_diagnostic(published)
  local actions = request('textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(main) },
    range = diagnostic.range,
    context = { diagnostics = { diagnostic } },
  }, main) or {}
  local fix
  for _, action in ipairs(actions) do
    if action.title == 'replace with `base`' then
      fix = action
    end
  end
  if not fix or not fix.edit then
    local titles = vim.tbl_map(function(a)
      return a.title
    end, actions)
    fail('textDocument/codeAction at the E0101 diagnostic', 'an action "replace with `base`" with an edit', titles)
  end
  vim.lsp.util.apply_workspace_edit(fix.edit, 'utf-16')
  expect_line(main, 7, '    model  = base', 'the quick fix applied')
  wait_for('the diagnostics of main.sprs to clear after the fix', function()
    return #vim.diagnostic.get(main) == 0
  end, function()
    return diagnostics_of(main)
  end)
  say('ok b: quick fix "' .. fix.title .. '" applied, no diagnostics left')

  -- c. Rename `base` (on `model  = base`) to `small`: both files change.
  local edit = request('textDocument/rename', {
    textDocument = { uri = vim.uri_from_bufnr(main) },
    position = { line = 7, character = 14 },
    newName = 'small',
  }, main)
  local touched = {}
  for uri, _ in pairs(edit and edit.changes or {}) do
    touched[vim.fn.fnamemodify(vim.uri_to_fname(uri), ':t')] = true
  end
  for _, change in ipairs(edit and edit.documentChanges or {}) do
    if change.textDocument then
      touched[vim.fn.fnamemodify(vim.uri_to_fname(change.textDocument.uri), ':t')] = true
    end
  end
  if not (touched['main.sprs'] and touched['lib.sprs']) then
    fail('textDocument/rename of `base` to `small`', 'a WorkspaceEdit touching lib.sprs and main.sprs', edit)
  end
  vim.lsp.util.apply_workspace_edit(edit, 'utf-16')
  expect_line(main, 3, 'use "lib.sprs"::{small}', 'the rename applied to main.sprs')
  expect_line(main, 7, '    model  = small', 'the rename applied to main.sprs')
  local lib = vim.fn.bufnr(lib_path)
  if lib < 0 then
    fail('the rename applied to lib.sprs', 'a buffer for ' .. lib_path, 'none')
  end
  expect_line(lib, 5, 'model small = llama { width = 64, depth = 2 }', 'the rename applied to lib.sprs')
  -- The server checks main.sprs against the other open files' buffers: attached to lib.sprs too
  -- (as a FileType autocommand would attach it), the client sends its renamed text, and main.sprs
  -- is checked again, clean, with nothing saved.
  vim.bo[lib].filetype = 'sprs'
  local before = publishes.count
  if not vim.lsp.buf_attach_client(lib, client_id) then
    fail('attaching to lib.sprs', 'buf_attach_client to return true', false)
  end
  wait_for('main.sprs checked again, without diagnostics, against the unsaved lib.sprs', function()
    local last = publishes[main]
    return last and last.seq > before and last.n == 0 and #vim.diagnostic.get(main) == 0
  end, function()
    return diagnostics_of(main)
  end)
  if vim.bo[lib].modified ~= true then
    fail('lib.sprs after the rename', 'a modified, unsaved buffer', 'a saved one')
  end
  say('ok c: rename to `small` applied to lib.sprs and main.sprs, unsaved, no diagnostics')

  -- d. Inlay hints of the whole file: the trial `solo`'s figures, a label starting `N `.
  local hints = request('textDocument/inlayHint', {
    textDocument = { uri = vim.uri_from_bufnr(main) },
    range = { start = { line = 0, character = 0 }, ['end'] = { line = 100, character = 0 } },
  }, main) or {}
  local labels = {}
  local found
  for _, hint in ipairs(hints) do
    local label = hint.label
    if type(label) == 'table' then
      label = table.concat(vim.tbl_map(function(part)
        return part.value
      end, label))
    end
    table.insert(labels, label)
    if not found and label:sub(1, 2) == 'N ' then
      found = label
    end
  end
  if not found then
    fail('textDocument/inlayHint over main.sprs', 'a hint whose label starts with "N "', labels)
  end
  say('ok d: ' .. #hints .. ' inlay hints, e.g. ' .. found)

  -- e. Shutdown: `shutdown`, then `exit`, and the server process ends with code 0.
  if vim.fn.has('nvim-0.11') == 1 then
    client:stop()
  else
    client.stop()
  end
  wait_for('the server to exit after shutdown', function()
    return exited
  end)
  if exited.code ~= 0 then
    fail('the server to exit after shutdown', 'exit code 0', exited)
  end
  say('ok e: the server shut down, exit code 0')
end

local ok, err = pcall(run)
if ok then
  say(string.format('nvim client test: ok (Neovim %s)', version_string()))
  os.exit(0)
end
if type(err) == 'table' then
  say('nvim client test: FAILED: ' .. err.what)
  say('  expected: ' .. show(err.expected))
  say('  got:      ' .. show(err.got))
else
  say('nvim client test: FAILED with a Lua error: ' .. tostring(err))
end
if client and not exited then
  pcall(function()
    if vim.fn.has('nvim-0.11') == 1 then
      client:stop(true)
    else
      client.stop(true)
    end
  end)
end
os.exit(1)
