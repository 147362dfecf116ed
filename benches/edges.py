"""What happens at the edges, measured on two builds in one run (issue 26's
items 1-5): a retained MQTT command and broker restarts, a getter that never
returns (600 clients giving up on it, then SIGTERM), async actions that block
their threads, one address holding 520 idle connections, and 32 clients
guessing a password.

    cargo build --release --example bench --example hung
    python3 benches/edges.py OLD/target/release/examples target/release/examples [ITEM ...]

Each directory must hold the `bench` and `hung` examples of its build (an
older checkout gets tests/programs/hung.rs copied in, without its `config.device`
lines). Needs Debian's mosquitto and mosquitto-clients; everything listens on
127.0.0.1 (and 127.0.0.2 for the greedy client) and stops by itself.
"""
import base64, json, os, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(binary, args=(), env=None, cwd=None):
    e = dict(os.environ); e.update(env or {})
    p = subprocess.Popen([binary, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd or tempfile.mkdtemp())
    err = []
    threading.Thread(target=lambda: err.extend(l.decode(errors="replace") for l in p.stderr), daemon=True).start()
    while True:
        line = p.stdout.readline().decode()
        if not line: raise SystemExit("server exited: " + "".join(err))
        if line.startswith("listening on "):
            url = line.split()[2]; break
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, url, err

def get(url, timeout=5, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
    except Exception as e: return type(e).__name__, b""

def post(url, body, timeout=5):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
    except Exception as e: return type(e).__name__, b""

def proc_status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key): return int(line.split()[1])

def fds(pid): return len(os.listdir(f"/proc/{pid}/fd"))

def stop(p, err, limit=30):
    t = time.time(); p.send_signal(signal.SIGTERM)
    try: p.wait(limit); took = time.time() - t
    except subprocess.TimeoutExpired: took = None; p.kill(); p.wait()
    time.sleep(0.2)
    return took, p.returncode, "".join(err)

def item1(bench):
    d = tempfile.mkdtemp(); os.chmod(d, 0o777); port = free_port()
    conf = f"{d}/m.conf"; open(conf, "w").write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {d}/\n")
    def broker(): 
        b = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try: socket.create_connection(("127.0.0.1", port)).close(); break
            except OSError: time.sleep(0.05)
        return b
    b = broker()
    lab = f"{d}/lab.toml"; open(lab, "w").write(f'[mqtt]\nbroker = "mqtt://127.0.0.1:{port}"\nclient_id = "lab2"\n[things.bench]\ntype = "Bench"\n')
    p, url, err = start(bench, ["--config", lab], cwd=d)
    time.sleep(1.5)
    subprocess.run(["mosquitto_pub", "-p", str(port), "-r", "-q", "1", "-t", "labthings/lab2/bench/actions/increment", "-m", '{"by": 100}'])
    time.sleep(1); counts = [json.loads(get(url + "/bench/count")[1])]
    for _ in range(3):
        b.send_signal(signal.SIGTERM); b.wait(); b = broker(); time.sleep(2.5)
        counts.append(json.loads(get(url + "/bench/count")[1]))
    stop(p, err)
    p, url, err = start(bench, ["--config", lab], cwd=d); time.sleep(2.5)
    counts.append(json.loads(get(url + "/bench/count")[1]))
    stop(p, err); b.kill(); b.wait()
    return {"count after publish, 3 broker restarts, a new server": counts}

def item2(hung):
    p, url, err = start(hung)
    t = time.time(); first = get(url + "/sensor/reading", timeout=10); first_s = round(time.time() - t, 2)
    def abandon(_): return get(url + "/sensor/reading", timeout=0.05)[0]
    with ThreadPoolExecutor(50) as ex: list(ex.map(abandon, range(600)))
    time.sleep(0.5)
    others = [get(url + "/lamp/on", timeout=2)[0] for _ in range(50)]
    t = time.time(); again = get(url + "/sensor/reading", timeout=10)[0]; again_s = round(time.time() - t, 2)
    threads, nfds = proc_status(p.pid, "Threads:"), fds(p.pid)
    took, code, log = stop(p, err)
    hooks = [h for h in ["lamp off", "sensor released", "probe closed"] if h in log]
    return {"first GET of the hung getter": [first[0], first_s], "50 GETs of another thing after 600 abandoned": {str(k): others.count(k) for k in set(others)},
            "the hung getter again": [again, again_s], "threads": threads, "fds": nfds, "SIGTERM to exit s": took and round(took, 2), "exit code": code, "stop hooks run": hooks}

def item3(hung):
    p, url, err = start(hung)
    posts = []
    for _ in range(4):
        t = time.time(); posts.append([post(url + "/sensor/settle", {"seconds": 20}, timeout=30)[0], round(time.time() - t, 2)])
    time.sleep(0.3); t = time.time(); s = get(url + "/lamp/on", timeout=30)[0]; took = round(time.time() - t, 3)
    stop(p, err, 40)
    return {"4 POSTs of a 20 s blocking async action: status, s": posts, "then a GET of another thing: status, s": [s, took]}

def item4(bench):
    p, url, err = start(bench)
    host, port = url[7:].split(":"); idle = []
    for _ in range(520):
        s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect((host, int(port))); idle.append(s)
    time.sleep(0.5)
    t = time.time(); res = [get(url + "/bench/count", timeout=2)[0] for _ in range(50)]
    for s in idle: s.close()
    _, _, log = stop(p, err)
    return {"50 GETs from 127.0.0.1 with 520 idle from 127.0.0.2": {str(k): res.count(k) for k in set(res)}, "refusals logged": log.count("refused a connection")}

def item5(bench):
    out = subprocess.run([bench, "--hash-password"], input=b"alice's long password\n", capture_output=True).stdout.decode()
    h = out.split('password_hash = "')[1].split('"')[0]
    d = tempfile.mkdtemp(); open(f"{d}/lab.toml", "w").write(f'[things.bench]\ntype = "Bench"\n[[auth.users]]\nname = "alice"\nrole = "operate"\npassword_hash = "{h}"\n')
    p, url, err = start(bench, ["--config", "lab.toml"], cwd=d)
    good = {"authorization": "Basic " + base64.b64encode(b"alice:alice's long password").decode()}
    get(url + "/bench/count", headers=good); rss0 = proc_status(p.pid, "VmRSS:")
    counts = {}; lock = threading.Lock(); end = time.time() + 5
    def guess(g):
        n = 0
        while time.time() < end:
            n += 1; auth = {"authorization": "Basic " + base64.b64encode(f"alice:guess{g}-{n}".encode()).decode()}
            s = get(url + "/bench/count", timeout=10, headers=auth)[0]
            with lock: counts[str(s)] = counts.get(str(s), 0) + 1
    with ThreadPoolExecutor(32) as ex: list(ex.map(guess, range(32)))
    rss1 = proc_status(p.pid, "VmRSS:"); stop(p, err)
    return {"answers to 32 guessers over 5 s": counts, "checked (401) per s": round(counts.get("401", 0) / 5, 1), "RSS MiB before, after": [rss0 // 1024, rss1 // 1024]}

if __name__ == "__main__":
    for label, d in zip(["before", "after"], sys.argv[1:3]):
        ex = lambda n: os.path.join(d, n)
        only = sys.argv[3:] or ["1", "2", "3", "4", "5"]
        for name, f, b in [("1", item1, "bench"), ("2", item2, "hung"), ("3", item3, "hung"), ("4", item4, "bench"), ("5", item5, "bench")]:
            if name not in only: continue
            print(label, name, json.dumps(f(ex(b))), flush=True)
