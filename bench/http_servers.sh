# Sourced by bench/http_overhead.sh and bench/http_profile.sh: the servers
# they compare, each with one thread pinned to CPU 1, and the request wrk
# sends (a try of a 0 ms model with a fallback). Needs $work, a scratch
# folder the caller removes (and whose *.pid it kills).

body='{"inputs":{"question":"what is a broker?"},"models":[{"name":"zero","est":1},{"name":"backup","est":1}],"tloc":50,"crossRequest":1,"crossLag":10,"priority":0}'
# nginx's fixed body: a try's answer, of the same shape and size.
answer='{"answer":"zero answer to: what is a broker?","model":"zero","rank":0,"downgraded":false,"reason":null,"elapsed_ms":0.01,"attempts":[{"model":"zero","rank":0,"state":"succeeded","started_ms":0,"latency_ms":0}]}'

start_nginx() {  # port
  cat > "$work/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 10;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$1;
    location / { default_type application/json; return 200 '$answer'; }
  }
}
CONF
  nginx -c "$work/nginx.conf"
}

start_tbms() {  # name port flags...; $TBMS_BIN is the binary (default build/tbms)
  local name=$1 port=$2
  shift 2
  taskset -c 1 "${TBMS_BIN:-build/tbms}" serve --port "$port" --threads 1 --insecure-dev --simulate zero=0,backup=0 "$@" \
    >"$work/$name.log" 2>&1 &
  echo $! > "$work/$name.pid"
  for _ in $(seq 100); do grep -q serving "$work/$name.log" && return; sleep 0.05; done
  echo "$name did not start"; exit 1
}

# wrk's script: POST the try.
write_post_lua() {
  cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
}
