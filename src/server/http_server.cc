#include "tbms/server/http_server.h"

#include "tbms/batching/batcher.h"
#include "tbms/common/json_writer.h"
#include "tbms/common/names.h"
#include "tbms/server/answer_handoff.h"
#include "tbms/server/assets.h"
#include "tbms/common/json_fields.h"
#include "request_parser.h"

#include <array>
#include <fstream>
#include <optional>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace tbms {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

int HttpStatusOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kFailedPrecondition: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

namespace {
constexpr std::string_view kTryPrefix = "/v1/instances/";
constexpr std::string_view kTrySuffix = "/try";
constexpr std::string_view kV2Models = "/v2/models/";
constexpr std::string_view kV2Repository = "/v2/repository/";

// Debian's Chart.js (libjs-chart.js), read once; empty if not installed.
const std::string& ChartJs() {
  static const std::string content = [] {
    std::ifstream in("/usr/share/javascript/chart.js/chart.min.js", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  return content;
}

// ---------------------------------------------------------------------------
// The KServe v2 routes (but health) over V2Api: the path and method pick the
// call, its typed reply is written as JSON, its status mapped to HTTP.

// Answers one request: an HTTP status and a JSON body (empty: none), or —
// json_length > 0, an infer asked for binary outputs — that many bytes of
// JSON and then the outputs' raw bytes. Called exactly once, from any thread.
using V2Reply = std::function<void(int status, std::string body, size_t json_length)>;

bool IsV2Path(std::string_view path) {
  return path == "/v2" || path == "/v2/" || path.starts_with(kV2Models) || path.starts_with(kV2Repository);
}

void ReplyV2Error(const V2Reply& reply, const Status& s) { reply(HttpStatusOf(s.code()), ErrorJson(s.message()), 0); }

// "a/b/c" cut at its slashes, without allocating: at most 4 parts, and a
// size of 5 for "too many".
struct PathParts {
  std::array<std::string_view, 5> part;
  size_t size = 0;
  std::string_view operator[](size_t i) const { return part[i]; }
};

PathParts SplitPath(std::string_view rest) {
  PathParts parts;
  while (parts.size < parts.part.size()) {
    const size_t slash = rest.find('/');
    parts.part[parts.size++] = rest.substr(0, slash);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

std::string ServerMetadataJson(const ServerMetadata& m) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Key("name").String(m.name).Key("version").String(m.version).Key("extensions").BeginArray();
  for (const std::string& e : m.extensions) w.String(e);
  w.EndArray().EndObject();
  return out;
}

void WriteTensorSpecs(JsonWriter& w, std::string_view key, const std::vector<TensorSpec>& specs) {
  w.Key(key).BeginArray();
  for (const TensorSpec& t : specs) {
    w.BeginObject().Key("name").String(t.name).Key("datatype").String(DataTypeName(t.datatype));
    w.Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray().EndObject();
  }
  w.EndArray();
}

// KServe's model metadata, and TBMS's "labels" when model.toml has any.
std::string ModelMetadataJson(const ModelMetadata& m) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Key("name").String(m.name).Key("versions").BeginArray();
  for (const std::string& v : m.versions) w.String(v);
  w.EndArray().Key("platform").String(m.platform);
  WriteTensorSpecs(w, "inputs", m.inputs);
  WriteTensorSpecs(w, "outputs", m.outputs);
  if (!m.labels.empty()) {
    w.Key("labels").BeginObject();
    for (const auto& [key, value] : m.labels) w.Key(key).String(value);
    w.EndObject();
  }
  w.EndObject();
  return out;
}

std::string IndexJson(const std::vector<ModelState>& states) {
  std::string out;
  JsonWriter w(out);
  w.BeginArray();
  for (const ModelState& s : states) {
    w.BeginObject().Key("name").String(s.name);
    if (!s.version.empty()) w.Key("version").String(s.version);
    w.Key("state").String(s.state);
    if (!s.reason.empty()) w.Key("reason").String(s.reason);
    w.EndObject();
  }
  w.EndArray();
  return out;
}

// /v2/models/{m}[/versions/{v}][/ready|/infer]. `table` is the request's
// snapshot, the one its key was checked against.
void RouteV2Model(const V2Api& api, const Caller& caller, std::string_view method, std::string_view rest,
                  std::string_view body, std::optional<size_t> json_length, std::shared_ptr<const ModelTable> table,
                  V2Reply reply) {
  const PathParts parts = SplitPath(rest);
  std::string_view version, action;
  if (parts.size == 2) {
    action = parts[1];
  } else if ((parts.size == 3 || parts.size == 4) && parts[1] == "versions" && !parts[2].empty()) {
    version = parts[2];
    if (parts.size == 4) action = parts[3];
  } else if (parts.size != 1) {
    return reply(404, ErrorJson("no such endpoint: /v2/models/" + std::string(rest)), 0);
  }
  if (!action.empty() && action != "ready" && action != "infer") {
    return reply(404, ErrorJson("no such endpoint: /v2/models/" + std::string(rest)), 0);
  }
  const std::string_view name = parts[0];
  const bool infer = action == "infer";
  if (infer ? method != "POST" : method != "GET" && method != "HEAD") {
    if (Status s = V2Api::CheckAccess(caller, *table, name); !s.ok()) return ReplyV2Error(reply, s);
    return reply(405, ErrorJson(infer ? "use POST for infer" : "use GET for model metadata"), 0);
  }
  if (action == "ready") {  // KServe: 200 when ready, 400 when not
    StatusOr<ModelReadiness> ready = api.Ready(caller, *table, name, version);
    if (!ready.ok()) return ReplyV2Error(reply, ready.status());
    return ready->ready ? reply(200, {}, 0) : reply(400, ErrorJson(ready->reason), 0);
  }
  StatusOr<ModelRef> model = api.Find(caller, *table, name, version);
  if (!model.ok()) return ReplyV2Error(reply, model.status());
  if (!infer) return reply(200, ModelMetadataJson(V2Api::Metadata(*model)), 0);
  StatusOr<InferRequest> request = ParseInferRequest(body, api.options().tensors, json_length);
  if (!request.ok()) return ReplyV2Error(reply, request.status());
  BinaryOutputs binary = request->binary_outputs;
  api.Infer(caller, std::move(table), *model, std::move(request).value(),
            [reply, binary = std::move(binary)](StatusOr<InferResponse> r) {
    if (!r.ok()) return ReplyV2Error(reply, r.status());
    std::string out;
    const size_t json = WriteInferResponse(*r, out, binary);
    reply(200, std::move(out), json < out.size() ? json : 0);
  });
}

// /v2/repository/index and /v2/repository/models/{m}/load|unload: admins only.
// A load's or unload's body: none, or {} / {"parameters": {}}. A model loads
// from its folder in the house, so parameters that would override it are refused.
Status CheckRepositoryBody(std::string_view body) {
  if (body.empty()) return OkStatus();
  simdjson::dom::element root;
  TBMS_RETURN_IF_ERROR(ParseBody(body, &root));
  simdjson::dom::object fields;
  if (root.get(fields) != simdjson::SUCCESS) return InvalidArgument("the body must be an object (or empty)");
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(fields, "the body"));
  for (auto field : fields) {
    simdjson::dom::object parameters;
    if (field.key != "parameters") return InvalidArgument("unknown field " + Quote(field.key) + " (expected parameters)");
    if (field.value.get(parameters) != simdjson::SUCCESS || parameters.size() > 0) {
      return InvalidArgument("parameters are not supported: a model loads from its model.toml in the house");
    }
  }
  return OkStatus();
}

void RouteV2Repository(const V2Api& api, const Caller& caller, std::string_view method, std::string_view rest,
                       std::string_view body, V2Reply reply) {
  if (Status s = V2Api::CheckAdmin(caller); !s.ok()) return ReplyV2Error(reply, s);
  if (rest == "index") {
    if (method != "POST" && method != "GET") return reply(405, ErrorJson("use POST for the repository index"), 0);
    StatusOr<std::vector<ModelState>> index = api.Index(caller);
    if (!index.ok()) return ReplyV2Error(reply, index.status());
    return reply(200, IndexJson(*index), 0);
  }
  const PathParts parts = SplitPath(rest);
  if (parts.size != 3 || parts[0] != "models" || parts[1].empty() ||
      (parts[2] != "load" && parts[2] != "unload")) {
    return reply(404, ErrorJson("no such endpoint: /v2/repository/" + std::string(rest)), 0);
  }
  if (method != "POST") return reply(405, ErrorJson("use POST to load or unload a model"), 0);
  if (Status s = CheckRepositoryBody(body); !s.ok()) return ReplyV2Error(reply, s);
  auto done = [reply](Status s) { s.ok() ? reply(200, {}, 0) : ReplyV2Error(reply, s); };
  if (parts[2] == "load") {
    api.Load(caller, std::string(parts[1]), std::move(done));
  } else {
    api.Unload(caller, std::string(parts[1]), std::move(done));
  }
}

// Hot plug, admins only: POST /v1/devices/{d}/drain|resume and
// POST /v1/models/{m}/replicas {"count": N}. The path's parts if it is one
// of these (parts[1] says which), none otherwise.
std::optional<PathParts> HotPlugPath(std::string_view path) {
  const PathParts parts = SplitPath(path.substr(1));
  const bool device = parts.size == 4 && parts[0] == "v1" && parts[1] == "devices" &&
                      (parts[3] == "drain" || parts[3] == "resume");
  const bool replicas = parts.size == 4 && parts[0] == "v1" && parts[1] == "models" && parts[3] == "replicas";
  if (!device && !replicas) return std::nullopt;
  return parts;
}

void RouteHotPlug(const V2Api& api, const Caller& caller, std::string_view method, std::string_view path,
                  const PathParts& parts, std::string_view body, V2Reply reply) {
  const bool device = parts[1] == "devices";
  auto done = [reply](Status s) { s.ok() ? reply(200, "{}", 0) : ReplyV2Error(reply, s); };
  if (Status s = V2Api::CheckAdmin(caller); !s.ok()) return done(s);
  if (method != "POST") return reply(405, ErrorJson("use POST for " + Quote(path)), 0);
  if (!IsValidName(parts[2])) return reply(400, ErrorJson("name must be " + std::string(kNameRule)), 0);
  if (device) return api.SetDeviceUp(caller, std::string(parts[2]), parts[3] == "resume", done);
  simdjson::dom::element root;
  int count = 0;
  Status parsed = ParseBody(body, &root);
  simdjson::dom::object fields;
  if (parsed.ok() && root.get(fields) != simdjson::SUCCESS) {
    parsed = InvalidArgument("the body must be an object: {\"count\": N}");
  }
  if (parsed.ok()) parsed = NoDuplicateKeys(fields, "the body");
  if (parsed.ok()) {
    for (auto field : fields) {
      if (field.key != "count") parsed = InvalidArgument("unknown field " + Quote(field.key) + " (expected count)");
    }
  }
  simdjson::dom::element c;
  if (parsed.ok()) {
    parsed = fields["count"].get(c) != simdjson::SUCCESS ? InvalidArgument("missing field 'count'")
                                                       : ReadInt(c, "count", 0, Batcher::kMaxReplicas, &count);
  }
  if (!parsed.ok()) return ReplyV2Error(reply, parsed);
  api.SetReplicas(caller, std::string(parts[2]), count, done);
}

void RouteV2(const V2Api& api, const Caller& caller, std::string_view method, std::string_view path,
             std::string_view body, std::optional<size_t> json_length, std::shared_ptr<const ModelTable> table,
             V2Reply reply) {
  if (path == "/v2" || path == "/v2/") {
    if (method != "GET" && method != "HEAD") return reply(405, ErrorJson("use GET for /v2"), 0);
    return reply(200, ServerMetadataJson(V2Api::Server()), 0);
  }
  if (path.starts_with(kV2Repository)) {
    return RouteV2Repository(api, caller, method, path.substr(kV2Repository.size()), body, std::move(reply));
  }
  RouteV2Model(api, caller, method, path.substr(kV2Models.size()), body, json_length, std::move(table),
               std::move(reply));
}
}  // namespace

// One connection: reads requests in order and answers each (HTTP/1.1 has no
// pipelined reordering). Runs on the io threads; a try's result arrives from
// the engine's core and is posted back to this session's strand.
//
// Stream is a tcp::socket, or an ssl_stream over one (--tls-cert): TLS adds
// a handshake first and a close_notify last, nothing in between.
//
// The idle timeout (a client that never finishes a request, or never reads
// its answer) is one timer per connection, not a timer operation per read
// and write as beast::tcp_stream's: reads and writes move idle_deadline_,
// and the timer, when it wakes, closes the socket if the deadline passed
// or sleeps until the deadline it finds.
template <class Stream>
class HttpServer::Session : public ConnectionTable::Entry, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

 public:
  Session(std::shared_ptr<State> state, tcp::socket socket, bool metrics_only)
      : state_(std::move(state)),
        stream_(Open(socket, *state_)),
        idle_timer_(stream_.get_executor()),
        metrics_only_(metrics_only) {}
  ~Session() override {
    if (slot_) Table().Close(*slot_);
  }

  // Takes a place in its listener's table; false: refused (the caller drops it, which closes the socket).
  bool Admit(const std::string& client) {
    slot_ = Table().Open(client, this->weak_from_this());
    return slot_.has_value();
  }

  void CloseIfIdle() override {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->waiting_ && !self->closed_) self->CloseSocket();  // its pending read (or handshake) fails and ends it
    });
  }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->IdleFor(self->state_->options.idle_timeout);
      self->Waiting(true);  // a TLS handshake that never ends may make room too
      self->ArmIdleTimer();
      if constexpr (kTls) {
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->CloseSocket();
          self->Read();
        });
      } else {
        self->Read();
      }
    });
  }

 private:
  ConnectionTable& Table() { return metrics_only_ ? state_->metrics_connections : state_->main_connections; }

  // Until a whole request is in (its head and body, or a TLS handshake
  // before it), the connection may be closed for a newcomer at the cap: a
  // client that trickles its request holds a place it is not using.
  void Waiting(bool waiting) {
    waiting_ = waiting;
    SetIdleSince(waiting ? SteadyClock::now().time_since_epoch().count() : 0);
  }

  void Read() {
    Waiting(true);
    idle_deadline_ = SteadyClock::now() + state_->options.idle_timeout;
    request_.Clear();
    parser_.emplace(&request_, &buffer_);
    parser_->body_limit(state_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(state_->options.max_header_bytes));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // The header is in: a client that waits for 100 Continue gets it (RFC 9110
  // 10.1.1) before the body is read.
  void OnHeader(beast::error_code ec) {
    if (!ec && !parser_->is_done()) SetMidRequestSince(SteadyClock::now().time_since_epoch().count());
    if (ec || parser_->is_done() || !request_.expect_continue || request_.version < 11) return ReadBody(ec);
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) { self->ReadBody(ec); });
  }

  // Parses what of the body is buffered already here (no post for a
  // request that came in one read), and reads the rest.
  void ReadBody(beast::error_code ec) {
    while (!ec && !parser_->is_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
    }
    if (ec || parser_->is_done()) return OnRead(ec);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    Waiting(false);
    // What the reply's status line and body depend on, for an error reply too.
    version_ = request_.version;
    head_only_ = request_.method == http::verb::head;
    if (closed_ || ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == asio::ssl::error::stream_truncated) {
      return Close();
    }
    state_->active.fetch_add(1);  // until the response is written
    idle_deadline_ = SteadyClock::time_point::max();  // a try may take up to its tloc
    if (ec == http::error::body_limit) {
      return ReplyError(413, "request body is larger than " +
                                 std::to_string(state_->options.max_body_bytes) + " bytes", false);
    }
    if (ec == http::error::header_limit) {
      return ReplyError(431, "request headers are larger than " +
                                 std::to_string(state_->options.max_header_bytes) + " bytes", false);
    }
    if (const std::optional<Refusal>& refused = parser_->refusal()) {
      return ReplyError(refused->status, refused->message, false);
    }
    if (ec) return ReplyError(400, "bad HTTP request: " + ec.message(), false);
    request_.keep_alive = parser_->keep_alive();
    Handle(request_);
  }

  void Handle(const HttpRequest& req) {
    keep_alive_ = req.keep_alive && !(slot_ && slot_->health_only);
    const std::string_view target = req.target;
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/v2/health/live") return ReplyHealth(req.method, true);
    if (path == "/v2/health/ready") return ReplyHealth(req.method, !state_->unready.load());
    if (slot_ && slot_->health_only) {
      return ReplyError(503, "the server is at its connection limit (--max-connections): this connection may only "
                             "ask for /v2/health/live or /v2/health/ready");
    }
    if (path == "/dashboard/") return ReplyAsset(req.method, "/dashboard");
    if (path.starts_with("/dashboard")) return ReplyAsset(req.method, path);  // static files
    const bool report = path == "/metrics" || path == "/v1/report";
    // One snapshot for the whole request: its key, its instance, its models.
    std::shared_ptr<const ModelTable> table = state_->engine->table();
    if (metrics_only_) {
      if (report) return ReplyReport(req.method, path, Caller::Anyone(), *table);
      return ReplyError(404, "this address serves only /metrics, /v1/report, /dashboard and health");
    }
    const StatusOr<Caller> caller = Authenticate(req, target, *table);
    if (!caller.ok()) return ReplyStatus(caller.status());
    if (report) return ReplyReport(req.method, path, *caller, *table);
    if (IsV2Path(path)) {
      return V2(*caller, req.method_string, path, req.body, req.inference_header_length, std::move(table));
    }
    if (HotPlug(*caller, req.method_string, path, req.body)) return;
    if (path.starts_with(kTryPrefix) && path.ends_with(kTrySuffix) &&
        path.size() > kTryPrefix.size() + kTrySuffix.size()) {
      const std::string_view instance =
          path.substr(kTryPrefix.size(), path.size() - kTryPrefix.size() - kTrySuffix.size());
      if (!IsValidName(instance)) {
        return ReplyError(400, "instance name must be " + std::string(kNameRule));
      }
      if (req.method != http::verb::post) return ReplyError(405, "use POST for " + Quote(path));
      if (!caller->admin && caller->instance != instance) {
        return ReplyError(403, "this access key opens instance '" + caller->instance + "', not '" +
                                   std::string(instance) + "'");
      }
      return Try(instance, req.body, std::move(table));
    }
    ReplyError(404, "no such endpoint: " + Quote(path));
  }

  // The caller its signature proves (any caller with --insecure-dev).
  StatusOr<Caller> Authenticate(const HttpRequest& req, std::string_view target, const ModelTable& table) {
    return state_->gate->Authenticate({req.method_string, target, req.body, req.authorization}, table);
  }

  void ReplyHealth(http::verb method, bool ok) {
    if (method != http::verb::get && method != http::verb::head) {
      return ReplyError(405, "use GET for health endpoints");
    }
    Reply(ok ? 200 : 503, {});
  }

  // /metrics is the whole server's: an admin's (or the metrics address's).
  // /v1/report for an instance's key shows only that instance.
  void ReplyReport(http::verb method, std::string_view path, const Caller& caller, const ModelTable& table) {
    if (method != http::verb::get && method != http::verb::head) return ReplyError(405, "use GET");
    Engine* engine = state_->engine;
    if (engine->stats() == nullptr) return ReplyError(404, "metrics are off (--metrics off)");
    std::string out;
    out.reserve(16 << 10);
    if (path == "/metrics") {
      if (!caller.admin) {
        return ReplyError(403, "/metrics needs an admin key; scrape the metrics address (--metrics-address) instead");
      }
      WritePrometheus(*engine->stats(), engine->ReportNow(), out);
      return Reply(200, std::move(out), "text/plain; version=0.0.4; charset=utf-8");
    }
    if (!caller.admin) {
      const auto instance = table.FindInstance(caller.instance);
      const std::vector<std::string> visible =  // a listed mix shows its members' rows too
          instance.ok() && *instance ? table.WithMembers((*instance)->models) : std::vector<std::string>();
      const ReportScope scope{caller.instance, &visible};
      WriteReportJson(*engine->stats(), engine->ReportNow(), out, &scope);
      return Reply(200, std::move(out), "application/json", "Cache-Control: no-store\r\n");
    }
    WriteReportJson(*engine->stats(), engine->ReportNow(), out);
    Reply(200, std::move(out), "application/json", "Cache-Control: no-store\r\n");
  }

  void ReplyAsset(http::verb method, std::string_view path) {
    if (method != http::verb::get && method != http::verb::head) return ReplyError(405, "use GET");
    if (path == "/dashboard/chart.js") {
      const std::string& chart = ChartJs();
      if (chart.empty()) {
        return ReplyError(404, "chart.js is not installed: apt-get install libjs-chart.js");
      }
      return Reply(200, chart, "text/javascript; charset=utf-8");
    }
    for (const Asset& a : EmbeddedAssets()) {
      if (a.path == path) return Reply(200, std::string(a.body), a.content_type);
    }
    ReplyError(404, "no such endpoint: " + Quote(path));
  }

  void V2(const Caller& caller, std::string_view method, std::string_view path, std::string_view body,
          std::optional<size_t> json_length, std::shared_ptr<const ModelTable> table) {
    if (state_->draining.load() && method == "POST") return ReplyError(503, "server is shutting down");
    std::string quota_of;  // an instance's infer takes a slot of its quota, as its tries do
    if (!caller.admin && method == "POST" && path.ends_with("/infer")) {
      const auto instance = table->FindInstance(caller.instance);
      if (instance.ok() && !TakeQuota(*instance, &quota_of)) return;
    }
    RouteV2(state_->v2, caller, method, path, body, json_length, std::move(table),
            [self = this->shared_from_this(), quota_of = std::move(quota_of)](int status, std::string body,
                                                                               size_t json_length) {
      self->state_->gate->Release(quota_of);
      asio::post(self->stream_.get_executor(), [self, status, body = std::move(body), json_length]() mutable {
        if (json_length == 0) return self->Reply(status, std::move(body));
        self->Reply(status, std::move(body), "application/octet-stream",
                    "Inference-Header-Content-Length: " + std::to_string(json_length) + "\r\n");
      });
    });
  }

  // False: not a hot-plug path (told apart before any reply is made: every try passes here).
  bool HotPlug(const Caller& caller, std::string_view method, std::string_view path, std::string_view body) {
    const std::optional<PathParts> parts = HotPlugPath(path);
    if (!parts) return false;
    RouteHotPlug(state_->v2, caller, method, path, *parts, body,
                 [self = this->shared_from_this()](int status, std::string body, size_t) {
      asio::post(self->stream_.get_executor(),
                 [self, status, body = std::move(body)]() mutable { self->Reply(status, std::move(body)); });
    });
    return true;
  }

  void Try(std::string_view instance, const std::string& body, std::shared_ptr<const ModelTable> table) {
    if (state_->draining.load()) return ReplyError(503, "server is shutting down");
    Engine* engine = state_->engine;
    StatusOr<ParsedTry> parsed = ParseTryRequest(body, std::move(table), instance, state_->options.limits);
    if (!parsed.ok()) return ReplyStatus(parsed.status());
    std::string quota_of;
    if (!TakeQuota(parsed->instance, &quota_of)) return;
    const bool quota = !quota_of.empty();
    answer_.Arm();  // see AnswerHandoff
    Status s = engine->Submit(instance, parsed->task, std::move(parsed->request),
                              [self = this->shared_from_this(), quota_of = std::move(quota_of)](TryResult r) {
      self->state_->gate->Release(quota_of);
      if (self->answer_.Give(std::move(r))) asio::post(self->stream_.get_executor(), [self] { self->ReplyTry(); });
    });
    if (!s.ok()) {
      if (quota) state_->gate->Release(instance);  // not taken: no answer will release it
      return ReplyStatus(s);
    }
    if (answer_.Submitted()) ReplyTry();
  }

  void ReplyTry() {
    // Into the last reply's buffer (its write is done): a try's answer then
    // allocates nothing. Only a small one is reused, so no connection holds
    // a large reply's memory.
    std::string out = body_.capacity() <= kReusedReplyBytes ? std::move(body_) : std::string();
    out.clear();
    out.reserve(512);
    WriteTryResult(answer_.answer(), out);
    answer_.answer() = {};
    Reply(200, std::move(out));
  }

  // Takes a slot of the instance's quotas (instances.toml max_concurrent,
  // max_rps), naming it in *taken for the release; false, with 429 and
  // Retry-After sent, when it is over one. No instance or no quota: true.
  bool TakeQuota(const InstanceConfig* instance, std::string* taken) {
    int retry_after_s = 1;
    if (Status s = state_->gate->TakeQuota(instance, taken, &retry_after_s); !s.ok()) {
      Reply(429, ErrorJson(s.message()), "application/json", "Retry-After: " + std::to_string(retry_after_s) + "\r\n");
      return false;
    }
    return true;
  }

  void ReplyStatus(const Status& s) {
    if (s.code() == StatusCode::kUnauthenticated) {  // RFC 9110: a 401 names the scheme to use
      return Reply(401, ErrorJson(s.message()), "application/json", "WWW-Authenticate: TBMS-HMAC-SHA256\r\n");
    }
    ReplyError(HttpStatusOf(s.code()), s.message());
  }

  void ReplyError(int status, std::string message, bool keep_alive = true) {
    if (!keep_alive) keep_alive_ = false;
    Reply(status, ErrorJson(message));
  }

  // Writes the response. The head is formatted by hand: it is always the
  // same four fields, and Beast's generic serializer cost more than the
  // broker itself in the overhead benchmark.
  void Reply(int status, std::string body, std::string_view content_type = "application/json",
             std::string_view extra_headers = {}) {
    const bool keep = keep_alive_ && !state_->unready.load();  // clients reconnect through the balancer
    head_.clear();
    head_ += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head_ += std::to_string(status);
    head_ += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    head_.append(reason.data(), reason.size());
    head_ += "\r\nServer: tbms\r\n";
    head_.append(extra_headers.data(), extra_headers.size());
    // Every 429 and 503 says when to come back (RFC 9110 10.2.3); a quota's says how long it is out.
    if ((status == 429 || status == 503) && extra_headers.find("Retry-After:") == std::string_view::npos) {
      head_ += "Retry-After: 1\r\n";
    }
    if (!body.empty()) {
      head_ += "Content-Type: ";
      head_.append(content_type.data(), content_type.size());
      head_ += "\r\n";
    }
    head_ += "Content-Length: ";
    head_ += std::to_string(body.size());
    head_ += keep ? (version_ == 10 ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\n\r\n")
                  : "\r\nConnection: close\r\n\r\n";
    body_ = std::move(body);
    IdleFor(state_->options.idle_timeout);  // a client that will not read
    if (head_only_) body_.clear();  // Content-Length still says what GET would send
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers,
                      [self = this->shared_from_this(), keep](beast::error_code ec, size_t) {
                        self->state_->active.fetch_sub(1);
                        if (ec || !keep) return self->Close();
                        self->Read();
                      });
  }

  // The socket keeps its executor: the connection's strand (see Accept).
  static Stream Open(tcp::socket& socket, State& state) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *state.tls);
    } else {
      (void)state;
      return std::move(socket);
    }
  }
  tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }

  using SteadyClock = std::chrono::steady_clock;
  void IdleFor(Duration d) { idle_deadline_ = SteadyClock::now() + d; }
  // Sleeps until the deadline it finds (idle_timeout while a try runs).
  void ArmIdleTimer() {
    const SteadyClock::time_point at = idle_deadline_ != SteadyClock::time_point::max()
                                     ? idle_deadline_
                                     : SteadyClock::now() + state_->options.idle_timeout;
    idle_timer_.expires_at(at);
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (SteadyClock::now() >= self->idle_deadline_) return self->CloseSocket();  // its read or write then fails
      self->ArmIdleTimer();
    });
  }

  void Close() {
    if (closed_) return;
    IdleFor(kLinger);
    idle_timer_.cancel();  // it may sleep later than that
    ArmIdleTimer();
    if constexpr (kTls) {  // close_notify first, bounded by the timer
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->CloseSocket(); });
    } else {
      // Half-close, then read and drop what the client still sends until it
      // closes too (bounded by the timer and kLingerBytes). Closing a socket
      // with input unread sends a reset, which can destroy a reply the client
      // has not read yet: a 413 sent before the body it refuses (RFC 9112 9.6).
      beast::error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_send, ignored);
      buffer_.consume(buffer_.size());
      Drain(0);
    }
  }
  static constexpr Duration kLinger = std::chrono::seconds(1);
  static constexpr size_t kLingerBytes = 16 << 20;
  void Drain(size_t dropped) {
    if (dropped > kLingerBytes) return CloseSocket();
    Socket().async_read_some(buffer_.prepare(64 << 10),
                             [self = this->shared_from_this(), dropped](beast::error_code ec, size_t n) {
                               if (ec || self->closed_) return self->CloseSocket();
                               self->Drain(dropped + n);
                             });
  }
  void CloseSocket() {
    closed_ = true;
    beast::error_code ignored;
    idle_timer_.cancel();  // releases the session it holds
    Socket().shutdown(tcp::socket::shutdown_send, ignored);
    Socket().close(ignored);
  }

  const std::shared_ptr<State> state_;  // co-owned: a session may outlive the server
  Stream stream_;
  asio::steady_timer idle_timer_;
  SteadyClock::time_point idle_deadline_;
  bool closed_ = false;
  const bool metrics_only_;  // accepted on the metrics address
  std::optional<ConnectionTable::Slot> slot_;  // its place in the listener's table
  bool waiting_ = false;  // no whole request in yet: may be closed for a newcomer at the cap (Waiting)
  beast::flat_buffer buffer_;
  HttpRequest request_;  // the request being read or answered; reused
  std::optional<RequestParser> parser_;
  std::string head_;  // the response being written: head and body
  std::string body_;
  static constexpr size_t kReusedReplyBytes = 64 << 10;  // see ReplyTry
  bool keep_alive_ = true;
  bool head_only_ = false;  // a HEAD request: the response has no body
  AnswerHandoff answer_;    // the try in flight's (one at a time per connection)
  unsigned version_ = 11;
};

HttpServer::HttpServer(Options options, Engine* engine, HouseLoader* loader, std::shared_ptr<Gate> gate,
                       asio::io_context* ioc)
    : state_(std::make_shared<State>(std::move(options), engine, loader, std::move(gate), ioc->get_executor())),
      ioc_(ioc),
      main_(*ioc, false),
      metrics_(*ioc, true) {}

namespace {
// Binds and listens on host:port; *port receives the port bound. `flag`
// names the address in messages.
Status ListenOn(tcp::acceptor& acceptor, std::string_view flag, const std::string& host, uint16_t wanted,
                uint16_t* port) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return InvalidArgument("bad " + std::string(flag) + " '" + host + "': give an IP address of this machine, e.g. "
                           "127.0.0.1, ::1 or 0.0.0.0 (a name is not resolved)");
  }
  const tcp::endpoint endpoint(address, wanted);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + host + ":" + std::to_string(wanted) + ": " + ec.message());
  *port = acceptor.local_endpoint().port();
  return OkStatus();
}
}  // namespace

namespace {
// The server's TLS context: TLS 1.2 and later, the certificate chain and key
// from PEM files.
StatusOr<std::shared_ptr<asio::ssl::context>> TlsContext(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use, ec);
  if (!ec) ctx->use_certificate_chain_file(cert, ec);
  if (ec) return InvalidArgument("cannot use --tls-cert " + cert + ": " + ec.message());
  ctx->use_private_key_file(key, asio::ssl::context::pem, ec);  // also checks it matches the certificate
  if (ec) return InvalidArgument("cannot use --tls-key " + key + ": " + ec.message());
  return ctx;
}
}  // namespace

Status HttpServer::Listen() {
  const Options& o = state_->options;
  if (o.tls_cert.empty() != o.tls_key.empty()) return InvalidArgument("TLS needs both --tls-cert and --tls-key");
  if (!o.tls_cert.empty()) {
    auto ctx = TlsContext(o.tls_cert, o.tls_key);
    if (!ctx.ok()) return ctx.status();
    state_->tls = std::move(ctx).value();
  }
  TBMS_RETURN_IF_ERROR(ListenOn(main_.acceptor, "--host", o.host, o.port, &main_.port));
  if (o.metrics_host.empty()) return OkStatus();
  return ListenOn(metrics_.acceptor, "--metrics-address host", o.metrics_host, o.metrics_port, &metrics_.port);
}

void HttpServer::Start() {
  Accept(main_);
  if (metrics_.acceptor.is_open()) Accept(metrics_);
}

void HttpServer::Accept(Listener& listener) {
  // A connection's handlers run in order: on its strand, or on the one io
  // thread (which orders them by itself; a strand costs a dispatch each).
  auto executor = state_->options.io_threads == 1 ? asio::any_io_executor(ioc_->get_executor())
                                                  : asio::any_io_executor(asio::make_strand(*ioc_));
  listener.acceptor.async_accept(std::move(executor), [this, &listener](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) return;
    if (ec) {  // e.g. out of file descriptors: back off instead of spinning
      listener.retry.expires_after(std::chrono::milliseconds(50));
      listener.retry.async_wait([this, &listener](beast::error_code) { Accept(listener); });
      return;
    }
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    const std::string client = ec ? std::string() : ConnectionTable::ClientOf(peer.address().to_string());
    socket.set_option(tcp::no_delay(true), ec);
    // Refused (over a cap, no idle connection to close): the session and its socket go at once.
    if (state_->tls && !listener.metrics_only) {
      auto session = std::make_shared<Session<beast::ssl_stream<tcp::socket>>>(state_, std::move(socket), false);
      if (session->Admit(client)) session->Run();
    } else {
      auto session = std::make_shared<Session<tcp::socket>>(state_, std::move(socket), listener.metrics_only);
      if (session->Admit(client)) session->Run();
    }
    Accept(listener);
  });
}

void HttpServer::Unready() { state_->unready.store(true); }

void HttpServer::Drain() {
  Unready();
  state_->draining.store(true);
}

}  // namespace tbms
