// tbms bench: an open-loop load generator for the /try API.
//
// Requests are sent at intended times t_i from an arrival trace (Poisson, or
// bursty with --cv > 1: see loadgen/arrivals.h), whatever the server does:
// a slow server does not slow the sender down. Each request's latency runs
// from its intended time t_i to its response, so time spent waiting for the
// timer, for a free connection or in the server all counts (no coordinated
// omission). The run stops after --requests responses or at --duration-s,
// whichever comes first; requests still out at that bound are counted as
// unanswered (bench timeout). Only loopback servers are targeted.
//
// One thread runs one io_context: a steady_timer sends the due requests,
// each on an idle keep-alive connection, a new one (up to --connections), or
// else after the requests before it in a FIFO, when a connection frees up.
// The requests are built, signed and parsed by the client library
// (tbms/client/http.h, try.h); the connections are scheduled here, since an
// open-loop sender cannot wait on a blocking call.
// With --grpc HOST:PORT the same tries go over the KServe v2 gRPC API (a
// ModelInfer of model "try", tbms/client/grpc_try.h) on one channel, which
// multiplexes them: there are no connections to schedule, and a call that
// ends with a non-OK status counts as an HTTP error would (by its code).
// Output: a table on stdout (stderr with --json -), and with --json the same
// as one JSON object: the flags, then "sent" (requests whose intended time
// came before the run stopped: the denominator of every "_pct" and of
// effective_quality), "completed" (HTTP responses), "http_errors" (non-200
// or a malformed body), "transport_errors", "unanswered_bench_timeout"
// (still out at the stop), "achieved_qps" (completed / elapsed),
// "answered_by_tloc_pct" (an answer, and latency <= tloc), "answered_pct",
// "top_model_pct" (rank 0 within tloc), "effective_quality" (the answer's
// --quality if within tloc, else 0, averaged), "latency_ms",
// "latency_from_send_ms" (from the request's write: without the generator's
// own lag) and "server_elapsed_ms" (200s only), "by_model", "extra_attempts_pct"
// (launched attempts beyond the first, per 200 response), "reasons", and
// "generator" (how late the timer sent, connection use, retries).
//
// Exit 0 after a run (also when interrupted with Ctrl-C: what was measured
// is reported), 1 if the server cannot be reached or no request got a 200,
// 2 on bad flags or a non-loopback --url.
#include <utility>  // before Asio (see real_clock.h)

#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "client_flags.h"
#include "commands.h"
#include "format.h"
#include "tbms/client/http.h"
#include "tbms/client/try.h"
#include "tbms/common/json_writer.h"
#include "tbms/common/names.h"
#include "tbms/loadgen/arrivals.h"
#include "tbms/loadgen/latency_histogram.h"
#include "tbms/client/grpc_try.h"  // after TBMS's other headers: see src/backends/remote/grpc_transport.cc
#include "tbms/kserve/grpc_bytes.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

namespace tbms::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct BenchFlags {
  TryParams call;  // --url, --instance (default "bench"), --models, --tloc, --cross-*, --priority
  double rate = 0;
  double cv = 1;
  int64_t requests = 10000;
  double duration_s = 60;
  int connections = 256;
  uint64_t seed = 1;
  std::string json;  // a file, or "-" for stdout
  std::string quality;
  std::string question = "what is a broker?";
  bool quiet = false;
  std::string grpc;  // HOST:PORT: the tries over gRPC instead of --url
  CredentialFlags credentials;
};

TimePoint Now() {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

double Pct(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0;
}

// ---- flags -----------------------------------------------------------------

// Quality of an answer by rank when --quality does not say: 1.0 for rank 0,
// 0.2 less per rank, at least 0.2.
double DefaultQuality(int64_t rank) { return std::max(0.2, 1.0 - 0.2 * static_cast<double>(rank)); }

// "embedding=1,svm=0.8" over the ranked models; unlisted models keep the default.
StatusOr<std::map<std::string, double>> ParseQuality(std::string_view spec,
                                                     const std::vector<client::Candidate>& models) {
  std::map<std::string, double> q;
  for (size_t i = 0; i < models.size(); ++i) q[models[i].name] = DefaultQuality(static_cast<int64_t>(i));
  std::set<std::string> named;
  while (!spec.empty()) {
    const std::string_view item = spec.substr(0, spec.find(','));
    const size_t eq = item.find('=');
    const std::string name(item.substr(0, eq));
    if (eq == std::string_view::npos || name.empty()) {
      return InvalidArgument("bad --quality item '" + std::string(item) + "' (NAME=Q)");
    }
    if (!q.count(name)) return InvalidArgument("--quality names '" + name + "', which is not in --models");
    if (!named.insert(name).second) return InvalidArgument("--quality names '" + name + "' twice");
    double v;
    const std::string_view text = item.substr(eq + 1);
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || !(v >= 0 && v <= 1)) {
      return InvalidArgument("bad quality in '" + std::string(item) + "' (NAME=Q, Q in [0, 1])");
    }
    q[name] = v;
    if (item.size() == spec.size()) break;
    spec.remove_prefix(item.size() + 1);
  }
  return q;
}

struct Target {
  client::Url url;
  std::vector<tcp::endpoint> endpoints;  // loopback only
};

bool IsLoopback(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();  // 127.0.0.0/8 or ::1
}

// http://HOST[:PORT][/...] with HOST a loopback address or localhost.
// INVALID_ARGUMENT for a malformed URL, FAILED_PRECONDITION for a host that
// is not loopback (host names other than localhost are refused unresolved).
StatusOr<Target> ParseLoopbackUrl(const std::string& url) {
  auto parsed = client::ParseUrl(url);
  if (!parsed.ok()) return InvalidArgument("--url: " + parsed.status().message());
  if (parsed->tls) return InvalidArgument("--url must look like http://127.0.0.1:PORT (no TLS)");
  Target t{std::move(parsed).value(), {}};
  const std::string& bare = t.url.host;
  const std::string refuse = "refusing to send load to " + bare +
                             ": tbms bench only targets loopback (127.0.0.0/8, localhost, ::1)";
  std::string lower = bare;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "localhost" || lower == "localhost.") {
    // Not resolved: localhost is loopback by definition (RFC 6761); try both.
    t.endpoints = {tcp::endpoint(asio::ip::address_v4::loopback(), t.url.port),
                   tcp::endpoint(asio::ip::address_v6::loopback(), t.url.port)};
    return t;
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(bare, ec);
  if (ec || !IsLoopback(address)) return FailedPrecondition(refuse);  // names are not resolved
  t.endpoints = {tcp::endpoint(address, t.url.port)};
  return t;
}

// ---- the run ---------------------------------------------------------------

struct Config {
  BenchFlags flags;
  Target target;
  std::vector<client::Candidate> models;
  std::map<std::string, double> quality;
  std::string path;  // /v1/instances/{instance}/try
  std::string body;
  std::string grpc_message;  // with --grpc: the try's ModelInfer, serialized
  std::optional<AccessKey> key;  // none: unsigned requests
};

struct Results {
  uint64_t sent = 0;        // requests whose intended time came
  uint64_t completed = 0;   // HTTP responses, any status
  uint64_t ok = 0;          // 200 with a well-formed body
  uint64_t http_errors = 0;
  uint64_t transport_errors = 0;
  uint64_t unanswered_timeout = 0;  // still out when the run stopped
  uint64_t answered = 0;
  uint64_t answered_by_tloc = 0;
  uint64_t top_by_tloc = 0;
  uint64_t late_answers = 0;  // an answer, but after tloc (from the intended time)
  double quality_sum = 0;
  uint64_t extra_attempts = 0;
  std::map<std::string, uint64_t> by_model, reasons, http_status;
  LatencyHistogram latency;         // 200s: intended time to response
  LatencyHistogram from_send;       // 200s: the request's write to its response (no generator lag)
  LatencyHistogram server_elapsed;  // 200s: elapsed_ms as the server saw it
  LatencyHistogram send_lag;        // intended time to the timer's dispatch
  uint64_t queued = 0;              // found no idle connection at t_i
  uint64_t retries = 0;             // resent after a stale keep-alive connection closed
  uint64_t connections_opened = 0;
  uint64_t connect_errors = 0;
  size_t peak_connections = 0;
  double elapsed_s = 0;
  double offered_s = 0;  // from the start to the last intended send
  bool timed_out = false;
  bool interrupted = false;
  std::string first_error;  // the first HTTP error: status and body, shortened
};

class Bench {
 public:
  Bench(const Config& config, ArrivalGenerator gen)
      : c_(config), gen_(std::move(gen)), tick_(ioc_), deadline_(ioc_), progress_(ioc_),
        signals_(ioc_, SIGINT, SIGTERM), total_(static_cast<uint64_t>(config.flags.requests)) {}

  // The server must accept a connection first (it becomes the first idle one).
  Status Connect() {
    if (!c_.flags.grpc.empty()) return ConnectGrpc();
    auto conn = std::make_shared<Conn>(ioc_);
    beast::error_code ec;
    for (const tcp::endpoint& e : c_.target.endpoints) {
      conn->stream.socket().close(ec);
      conn->stream.connect(e, ec);
      if (!ec) {
        endpoint_ = e;  // every later connection goes where this one went
        break;
      }
    }
    if (ec) return Unavailable("cannot connect to " + c_.flags.call.url + ": " + ec.message());
    conn->stream.socket().set_option(tcp::no_delay(true), ec);
    live_.insert(conn);
    idle_.push_back(conn);
    r_.connections_opened = r_.peak_connections = 1;
    return OkStatus();
  }

  Results Run() {
    progress_enabled_ = !c_.flags.quiet;
    tty_ = isatty(STDERR_FILENO) != 0;
    start_ = Now();
    next_at_ = start_ + gen_.Next();
    deadline_.expires_at(start_ + Millis(c_.flags.duration_s * 1000));
    deadline_.async_wait([this](beast::error_code ec) {
      if (!ec && !stopped_) {
        r_.timed_out = true;
        Stop();
      }
    });
    signals_.async_wait([this](beast::error_code ec, int) {
      if (!ec && !stopped_) {
        r_.interrupted = true;
        Stop();
      }
    });
    ArmTick();
    ArmProgress();
    ioc_.run();
    if (printed_progress_) std::cerr << (tty_ ? "\n" : "");
    r_.unanswered_timeout = r_.sent - finished_;
    r_.elapsed_s = static_cast<double>((end_ - start_).count()) / 1e6;
    return std::move(r_);
  }

 private:
  struct Request {
    TimePoint intended;
    TimePoint sent = {};  // its (last) write began
    bool retried = false;
  };
  struct Conn {
    explicit Conn(asio::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    std::string wire;  // the request being sent: signed afresh each time
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    Request req;
    bool fresh = false;  // connected for the request it carries; not yet reused
    bool dead = false;
  };
  using ConnPtr = std::shared_ptr<Conn>;

  // Sends every request that is due, then sleeps until the next one.
  void ArmTick() {
    tick_.expires_at(next_at_);
    tick_.async_wait([this](beast::error_code ec) {
      if (ec || stopped_) return;
      const TimePoint now = Now();
      // At most 1024 per wake-up, so responses are read even when behind.
      for (int n = 0; n < 1024 && r_.sent < total_ && next_at_ <= now; ++n) {
        r_.send_lag.Record(now - next_at_);
        if (stub_) {
          SendGrpc(Request{next_at_});
        } else {
          if (idle_.size() <= waiting_.size()) ++r_.queued;  // no idle connection left for it
          waiting_.push_back(Request{next_at_});
        }
        ++r_.sent;
        last_intended_ = next_at_;
        if (r_.sent < total_) next_at_ += gen_.Next();
      }
      Pump();
      if (!stopped_ && r_.sent < total_) ArmTick();
    });
  }

  void ArmProgress() {
    progress_.expires_after(std::chrono::seconds(1));
    progress_.async_wait([this](beast::error_code ec) {
      if (ec || stopped_) return;
      PrintProgress();
      ArmProgress();
    });
  }

  // One line on stderr: redrawn in place on a terminal, one per second
  // otherwise. The last one (final) gives the whole run's rate.
  void PrintProgress(bool final = false) {
    if (!progress_enabled_) return;
    const TimePoint now = Now();
    const double since_start = static_cast<double>((now - start_).count()) / 1e6;
    const double dt = static_cast<double>((now - last_progress_at_).count()) / 1e6;
    const bool whole_run = final || last_progress_at_ == TimePoint() || dt <= 0;
    const double qps = whole_run ? static_cast<double>(r_.completed) / std::max(1e-6, since_start)
                                 : static_cast<double>(r_.completed - last_completed_) / dt;
    last_progress_at_ = now;
    last_completed_ = r_.completed;
    const std::string line = "[" + Fixed(since_start) + " s] sent " + std::to_string(r_.sent) +
                             "  done " + std::to_string(finished_) + "  errors " +
                             std::to_string(r_.http_errors + r_.transport_errors) + "  qps " + Fixed(qps) +
                             (final ? " (whole run)" : "") + "  p99 " +
                             Fixed(ToMillis(r_.latency.Percentile(0.99))) + " ms  conns " +
                             std::to_string(live_.size());
    if (tty_) {
      std::cerr << "\r" << line << "\x1b[K" << std::flush;
    } else {
      std::cerr << line << "\n" << std::flush;
    }
    printed_progress_ = true;
  }

  // Matches waiting requests with idle connections, and opens connections
  // for the rest (up to --connections, one per waiting request).
  void Pump() {
    if (stopped_) return;
    while (!waiting_.empty() && !idle_.empty()) {
      ConnPtr conn = idle_.back();  // the most recently used: fewer connections stay warm
      idle_.pop_back();
      Request req = waiting_.front();
      waiting_.pop_front();
      Send(conn, req);
    }
    while (waiting_.size() > connecting_ &&
           live_.size() < static_cast<size_t>(c_.flags.connections)) {
      Open();
    }
  }

  void Open() {
    auto conn = std::make_shared<Conn>(ioc_);
    live_.insert(conn);
    ++connecting_;
    ++r_.connections_opened;
    r_.peak_connections = std::max(r_.peak_connections, live_.size());
    conn->stream.async_connect(endpoint_, [this, conn](beast::error_code ec) {
      --connecting_;
      if (stopped_ || conn->dead) return;
      if (ec) {
        ++r_.connect_errors;
        Close(conn);
        if (!waiting_.empty()) {  // the request it was opened for fails
          waiting_.pop_front();
          ++r_.transport_errors;
          Finished();
        }
        return Pump();
      }
      conn->stream.socket().set_option(tcp::no_delay(true), ec);
      conn->fresh = true;
      idle_.push_back(conn);
      Pump();
    });
  }

  // The whole request; signed requests carry a fresh timestamp and nonce.
  void Wire(std::string& out) const {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    out = client::RequestBytes(c_.target.url, {"POST", c_.path, c_.body, "tbms-bench"}, c_.key ? &*c_.key : nullptr,
                               std::chrono::duration_cast<std::chrono::seconds>(now).count());
  }

  void Send(const ConnPtr& conn, Request req) {
    conn->req = req;
    conn->req.sent = Now();
    Wire(conn->wire);
    asio::async_write(conn->stream, asio::buffer(conn->wire),
                      [this, conn](beast::error_code ec, size_t) {
                        if (stopped_ || conn->dead) return;
                        if (ec) return Failed(conn, ec);
                        conn->parser.emplace();
                        http::async_read(conn->stream, conn->buffer, *conn->parser,
                                         [this, conn](beast::error_code ec2, size_t) {
                                           if (stopped_ || conn->dead) return;
                                           if (ec2) return Failed(conn, ec2);
                                           OnResponse(conn);
                                         });
                      });
  }

  void Close(const ConnPtr& conn) {
    conn->dead = true;
    beast::error_code ignored;
    conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn->stream.socket().close(ignored);
    live_.erase(conn);
  }

  // A transport failure while a request was out on `conn`. A connection that
  // waited in the pool (kept alive, or the first one) may have been closed by
  // the server's idle timeout: it fails before any response byte arrives,
  // and the request is resent once, at the front of the queue.
  void Failed(const ConnPtr& conn, beast::error_code ec) {
    Request req = conn->req;
    const bool stale = !conn->fresh && !req.retried &&
                       (ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
    Close(conn);
    if (stale) {
      ++r_.retries;
      req.retried = true;
      waiting_.push_front(req);
    } else {
      ++r_.transport_errors;
      Finished();
    }
    Pump();
  }

  void OnResponse(const ConnPtr& conn) {
    const TimePoint now = Now();
    conn->fresh = false;
    http::response<http::string_body> res = conn->parser->release();
    conn->parser.reset();
    if (res.keep_alive()) {
      idle_.push_back(conn);
    } else {
      Close(conn);
    }
    ++r_.completed;
    Record(res.result_int(), res.body(), now - conn->req.intended, now - conn->req.sent);
    Finished();
    Pump();
  }

  void Record(unsigned status, std::string& body, Duration latency, Duration from_send) {
    if (status != 200) return RecordError(std::to_string(status), "HTTP " + std::to_string(status) + ": " + body);
    auto doc = client::ParseTryResult(body);
    if (!doc.ok()) return RecordError("200 (malformed body)", "HTTP 200 with a malformed body: " + body);
    RecordResult(*doc, latency, from_send);
  }

  // A response that is not a try's result: counted by `kind`; the first one's `what` is kept.
  void RecordError(const std::string& kind, const std::string& what) {
    ++r_.http_errors;
    ++r_.http_status[kind];
    if (r_.first_error.empty()) r_.first_error = what.substr(0, 220);
  }

  void RecordResult(const client::TryResult& result, Duration latency, Duration from_send) {
    ++r_.ok;
    r_.latency.Record(latency);
    r_.from_send.Record(from_send);
    r_.server_elapsed.Record(Millis(result.elapsed_ms));
    if (!result.reason.empty()) ++r_.reasons[result.reason];
    const auto launched = static_cast<uint64_t>(std::count_if(
        result.attempts.begin(), result.attempts.end(), [](const client::Attempt& a) { return a.state != "skipped"; }));
    if (launched > 1) r_.extra_attempts += launched - 1;
    if (!result.answer) return;
    ++r_.answered;
    const std::string model = result.model.empty() ? "?" : result.model;
    const int64_t rank = result.rank;
    ++r_.by_model[model];
    if (latency > Millis(c_.flags.call.tloc)) {
      ++r_.late_answers;
      return;
    }
    ++r_.answered_by_tloc;
    if (rank == 0) ++r_.top_by_tloc;
    auto q = c_.quality.find(model);
    r_.quality_sum += q != c_.quality.end() ? q->second : DefaultQuality(std::max<int64_t>(rank, 0));
  }

  void Finished() {
    ++finished_;
    if (finished_ == total_) Stop();
  }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    end_ = Now();
    if (r_.sent > 0) r_.offered_s = static_cast<double>((last_intended_ - start_).count()) / 1e6;
    PrintProgress(true);
    tick_.cancel();
    deadline_.cancel();
    progress_.cancel();
    beast::error_code ignored;
    signals_.cancel(ignored);
    for (const ConnPtr& conn : std::vector<ConnPtr>(live_.begin(), live_.end())) Close(conn);
    idle_.clear();
    for (const auto& call : grpc_calls_) call->ctx.TryCancel();  // each still comes back (OnGrpcDone)
  }

  // ---- over gRPC ----

  struct GrpcCall {
    grpc::ClientContext ctx;
    grpc::ByteBuffer in, out;
    Request req;
  };

  Status ConnectGrpc() {
    auto channel = MakeClientChannel(c_.flags.grpc, /*tls=*/false, "", "");  // loopback, plain text
    if (!channel.ok()) return channel.status();
    channel_ = std::move(channel).value();
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
      return Unavailable("cannot connect to " + c_.flags.grpc + " over gRPC");
    }
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    r_.connections_opened = r_.peak_connections = 1;
    return OkStatus();
  }

  // Calls from gRPC's threads come back to the io_context, which runs while
  // any is out (grpc_work_), also after the stop: they are waited for.
  void SendGrpc(Request req) {
    auto call = std::make_shared<GrpcCall>();
    call->req = req;
    call->req.sent = Now();
    call->ctx.set_deadline(std::chrono::system_clock::now() + Millis(c_.flags.duration_s * 1000));
    const std::string path(client::kGrpcTryPath);
    if (c_.key) call->ctx.AddMetadata("authorization", client::SignTryMessage(*c_.key, c_.grpc_message));
    call->in = BytesBuffer(c_.grpc_message);
    if (grpc_calls_.empty()) grpc_work_.emplace(ioc_.get_executor());
    grpc_calls_.insert(call);
    stub_->UnaryCall(&call->ctx, path, grpc::StubOptions(), &call->in, &call->out, [this, call](grpc::Status s) {
      asio::post(ioc_, [this, call, s = std::move(s)] { OnGrpcDone(call, s); });
    });
  }

  void OnGrpcDone(const std::shared_ptr<GrpcCall>& call, const grpc::Status& s) {
    grpc_calls_.erase(call);
    if (grpc_calls_.empty()) grpc_work_.reset();
    if (stopped_) return;
    const TimePoint now = Now();
    ++r_.completed;
    inference::ModelInferResponse response;
    if (!s.ok()) {
      const std::string code(StatusCodeName(static_cast<StatusCode>(s.error_code())));
      RecordError("gRPC " + code, "gRPC " + code + ": " + s.error_message());
    } else if (!response.ParseFromString(BufferBytes(call->out))) {
      RecordError("OK (malformed message)", "gRPC OK with a message that is not a ModelInferResponse");
    } else if (auto doc = client::ParseTryMessage(response); !doc.ok()) {
      RecordError("OK (not a try)", "gRPC OK: " + doc.status().message());
    } else {
      RecordResult(*doc, now - call->req.intended, now - call->req.sent);
    }
    Finished();
  }

  const Config& c_;
  ArrivalGenerator gen_;
  asio::io_context ioc_{1};
  asio::steady_timer tick_, deadline_, progress_;
  asio::signal_set signals_;
  tcp::endpoint endpoint_;
  const uint64_t total_;

  std::unordered_set<ConnPtr> live_;  // open or connecting
  std::vector<ConnPtr> idle_;
  std::deque<Request> waiting_;       // due, waiting for a connection
  size_t connecting_ = 0;

  std::shared_ptr<grpc::Channel> channel_;  // with --grpc
  std::unique_ptr<grpc::GenericStub> stub_;
  std::unordered_set<std::shared_ptr<GrpcCall>> grpc_calls_;  // out
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> grpc_work_;

  TimePoint start_, end_, next_at_, last_intended_;
  uint64_t finished_ = 0;  // completed + transport errors
  bool stopped_ = false;
  Results r_;

  bool progress_enabled_ = true;
  bool tty_ = false;
  bool printed_progress_ = false;
  TimePoint last_progress_at_;
  uint64_t last_completed_ = 0;
};

// ---- output ----------------------------------------------------------------

std::string ModelsSpec(const std::vector<client::Candidate>& models) {
  std::string s;
  for (const client::Candidate& m : models) {
    if (!s.empty()) s += ',';
    s += m.name;
    if (m.est_ms) s += ":" + Fixed(*m.est_ms, *m.est_ms == std::floor(*m.est_ms) ? 0 : 3);
  }
  return s;
}

struct Summary {
  double achieved_qps, offered_qps, answered_pct, answered_by_tloc_pct, top_model_pct;
  double effective_quality, extra_attempts_pct;
};

Summary Summarize(const Results& r) {
  Summary s{};
  s.achieved_qps = r.elapsed_s > 0 ? static_cast<double>(r.completed) / r.elapsed_s : 0;
  s.offered_qps = r.offered_s > 0 ? static_cast<double>(r.sent) / r.offered_s : 0;
  s.answered_pct = Pct(r.answered, r.sent);
  s.answered_by_tloc_pct = Pct(r.answered_by_tloc, r.sent);
  s.top_model_pct = Pct(r.top_by_tloc, r.sent);
  s.effective_quality = r.sent ? r.quality_sum / static_cast<double>(r.sent) : 0;
  s.extra_attempts_pct = Pct(r.extra_attempts, r.ok);
  return s;
}

void WriteCounts(JsonWriter& w, const std::map<std::string, uint64_t>& counts) {
  w.BeginObject();
  for (const auto& [k, v] : counts) w.Key(k).Int(static_cast<long long>(v));
  w.EndObject();
}

std::string Json(const Config& c, const Results& r) {
  const BenchFlags& f = c.flags;
  const Summary s = Summarize(r);
  std::string out;
  JsonWriter w(out);
  w.BeginObject();
  w.Key("url").String(f.call.url);
  if (!f.grpc.empty()) w.Key("grpc").String(f.grpc);
  w.Key("instance").String(f.call.instance).Key("models").String(ModelsSpec(c.models));
  w.Key("tloc").Number(f.call.tloc).Key("cross_request").Int(f.call.cross_request).Key("cross_lag").Number(f.call.cross_lag)
      .Key("hedge").String(f.call.hedge);
  w.Key("priority").Int(f.call.priority).Key("rate_qps").Number(f.rate).Key("cv").Number(f.cv);
  w.Key("requests").Int(f.requests).Key("duration_s").Number(f.duration_s);
  w.Key("connections").Int(f.connections).Key("seed").Int(static_cast<long long>(f.seed));
  w.Key("quality").BeginObject();
  for (const client::Candidate& m : c.models) w.Key(m.name).Number(c.quality.at(m.name));
  w.EndObject();
  w.Key("sent").Int(static_cast<long long>(r.sent)).Key("completed").Int(static_cast<long long>(r.completed));
  w.Key("http_errors").Int(static_cast<long long>(r.http_errors));
  w.Key("transport_errors").Int(static_cast<long long>(r.transport_errors));
  w.Key("unanswered_bench_timeout").Int(static_cast<long long>(r.unanswered_timeout));
  w.Key("timed_out").Bool(r.timed_out).Key("interrupted").Bool(r.interrupted);
  w.Key("elapsed_s").Number(r.elapsed_s);
  w.Key("offered_qps").Number(s.offered_qps).Key("achieved_qps").Number(s.achieved_qps);
  w.Key("answered_by_tloc_pct").Number(s.answered_by_tloc_pct);
  w.Key("answered_pct").Number(s.answered_pct);
  w.Key("top_model_pct").Number(s.top_model_pct);
  w.Key("effective_quality").Number(s.effective_quality);
  w.Key("late_answers").Int(static_cast<long long>(r.late_answers));
  w.Key("latency_ms");
  r.latency.WriteJson(w);
  w.Key("latency_from_send_ms");
  r.from_send.WriteJson(w);
  w.Key("server_elapsed_ms");
  r.server_elapsed.WriteJson(w);
  w.Key("by_model");
  WriteCounts(w, r.by_model);
  w.Key("extra_attempts_pct").Number(s.extra_attempts_pct);
  w.Key("reasons");
  WriteCounts(w, r.reasons);
  w.Key("http_status");
  WriteCounts(w, r.http_status);
  w.Key("generator").BeginObject();
  w.Key("send_lag_ms");
  r.send_lag.WriteJson(w);
  w.Key("queued_for_connection").Int(static_cast<long long>(r.queued));
  w.Key("connections_opened").Int(static_cast<long long>(r.connections_opened));
  w.Key("peak_connections").Int(static_cast<long long>(r.peak_connections));
  w.Key("connect_errors").Int(static_cast<long long>(r.connect_errors));
  w.Key("retries").Int(static_cast<long long>(r.retries));
  w.EndObject();
  w.EndObject();
  return out;
}

std::string Percentiles(const LatencyHistogram& h) {
  if (h.Count() == 0) return "-";
  return "p50 " + Fixed(ToMillis(h.Percentile(0.5)), 2) + "  p90 " + Fixed(ToMillis(h.Percentile(0.9)), 2) +
         "  p99 " + Fixed(ToMillis(h.Percentile(0.99)), 2) + "  p99.9 " +
         Fixed(ToMillis(h.Percentile(0.999)), 2) + "  max " + Fixed(ToMillis(h.Max()), 2) + "  mean " +
         Fixed(h.MeanMillis(), 2);
}

std::string Counts(const std::map<std::string, uint64_t>& counts, uint64_t of) {
  std::vector<std::pair<std::string, uint64_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string s;
  for (const auto& [k, n] : v) {
    s += (s.empty() ? "" : ", ") + k + " " + std::to_string(n) + " (" + Fixed(Pct(n, of)) + " %)";
  }
  return s.empty() ? "-" : s;
}

void PrintTable(const Config& c, const Results& r, std::ostream& out) {
  const BenchFlags& f = c.flags;
  const Summary s = Summarize(r);
  out << "tbms bench: " << f.requests << " requests at " << Fixed(f.rate) << " qps (cv " << Fixed(f.cv, 2)
      << ", seed " << f.seed << ") to " << (f.grpc.empty() ? f.call.url : "gRPC " + f.grpc) << ", instance "
      << f.call.instance << "\n"
      << "models " << ModelsSpec(c.models) << ", tloc " << Fixed(f.call.tloc) << " ms, crossRequest "
      << f.call.cross_request << ", crossLag " << Fixed(f.call.cross_lag) << " ms, hedge " << f.call.hedge << "\n";
  if (r.timed_out) out << "stopped at the --duration-s bound (" << Fixed(f.duration_s) << " s)\n";
  if (r.interrupted) out << "interrupted\n";
  out << "\n";
  const std::string protocol = f.grpc.empty() ? "HTTP" : "gRPC";
  std::vector<std::pair<std::string, std::string>> rows = {
      {"requests", "sent " + std::to_string(r.sent) + ", completed " + std::to_string(r.completed) + ", " +
                       protocol + " errors " + std::to_string(r.http_errors) + ", transport errors " +
                       std::to_string(r.transport_errors) + ", unanswered (bench timeout) " +
                       std::to_string(r.unanswered_timeout)},
      {"throughput", "offered " + Fixed(s.offered_qps) + " qps, achieved " + Fixed(s.achieved_qps) +
                         " qps over " + Fixed(r.elapsed_s, 2) + " s"},
      {"answered by tloc", Fixed(s.answered_by_tloc_pct) + " % (any time " + Fixed(s.answered_pct) +
                               " %, late " + std::to_string(r.late_answers) + ")"},
      {"top model by tloc", Fixed(s.top_model_pct) + " %"},
      {"effective quality", Fixed(s.effective_quality, 3)},
      {"latency ms", Percentiles(r.latency)},
      {"  from send", Percentiles(r.from_send)},
      {"server elapsed ms", Percentiles(r.server_elapsed)},
      {"answered by", Counts(r.by_model, r.sent)},
      {"reasons", Counts(r.reasons, r.sent)},
      {"extra attempts", Fixed(s.extra_attempts_pct) + " %"},
  };
  if (!r.http_status.empty()) {
    rows.push_back({protocol + " errors", Counts(r.http_status, r.completed)});
    rows.push_back({"first " + protocol + " error", r.first_error});
  }
  rows.push_back({"generator", "send lag p99 " + Fixed(ToMillis(r.send_lag.Percentile(0.99)), 3) +
                                   " ms, max " + Fixed(ToMillis(r.send_lag.Max()), 3) + " ms; " +
                                   std::to_string(r.queued) + " waited for a connection; " +
                                   std::to_string(r.connections_opened) + " connections opened, peak " +
                                   std::to_string(r.peak_connections)});
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  for (const auto& [k, v] : rows) out << k << std::string(width - k.size() + 2, ' ') << v << "\n";
}

int Bad(const std::string& message) {
  std::cerr << "tbms bench: " << message << "\n";
  return 2;
}

int RunBench(const BenchFlags& f) {
  // --grpc HOST:PORT is held to the same loopback rule as --url.
  auto target = ParseLoopbackUrl(f.grpc.empty() ? f.call.url : "http://" + f.grpc);
  if (!target.ok()) return Bad((f.grpc.empty() ? "" : "--grpc " + f.grpc + ": ") + target.status().message());
  if (!IsValidName(f.call.instance)) return Bad("--instance must be " + std::string(kNameRule));
  auto models = ParseModels(f.call.models);
  if (!models.ok()) return Bad(models.status().message());
  auto quality = ParseQuality(f.quality, *models);
  if (!quality.ok()) return Bad(quality.status().message());
  auto gen = ArrivalGenerator::Create({.rate_qps = f.rate, .cv = f.cv, .seed = f.seed});
  if (!gen.ok()) return Bad(gen.status().message());

  auto key = LoadCredentials(f.credentials);
  if (!key.ok()) {
    std::cerr << "tbms bench: " << key.status().message() << "\n";
    return 2;
  }
  Config c{f, std::move(target).value(), std::move(models).value(), std::move(quality).value(),
           client::TryTarget(f.call.instance), "", "", *key};
  c.body = client::TryBody(TryRequestOf(f.question, c.models, f.call));
  if (!f.grpc.empty()) {
    auto message = client::TryMessage(TryRequestOf(f.question, c.models, f.call), f.call.instance);
    if (!message.ok()) return Bad(message.status().message());
    c.grpc_message = message->SerializeAsString();
  }

  std::ofstream json_file;
  if (!f.json.empty() && f.json != "-") {
    json_file.open(f.json);
    if (!json_file) {
      std::cerr << "tbms bench: cannot write " << f.json << "\n";
      return 1;
    }
  }

  auto bench = std::make_unique<Bench>(c, std::move(gen).value());
  if (Status s = bench->Connect(); !s.ok()) {
    std::cerr << "tbms bench: " << s.message() << "\n";
    return 1;
  }
  const Results r = bench->Run();
  bench.reset();

  PrintTable(c, r, f.json == "-" ? std::cerr : std::cout);
  if (!f.json.empty()) {
    std::ostream& out = f.json == "-" ? std::cout : json_file;
    out << Json(c, r) << "\n" << std::flush;
    if (!out) {
      std::cerr << "tbms bench: cannot write " << f.json << "\n";
      return 1;
    }
  }
  if (r.sent > 0 && r.ok == 0) {
    std::cerr << "tbms bench: no request succeeded"
              << (r.first_error.empty() ? "" : " (first error: " + r.first_error + ")") << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddBench(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Open-loop load on a loopback TBMS server: requests at --rate (Poisson, or bursty with "
      "--cv > 1), latency from each request's intended send time");
  flags->call.instance = "bench";
  AddTryParams(cmd, flags->call, "Server URL: loopback only (127.0.0.0/8, localhost, [::1])");
  cmd->add_option("--rate", flags->rate, "Target arrival rate, requests per second")
      ->check(CLI::Range(0.001, 1e6))->required();
  cmd->add_option("--cv", flags->cv,
                  "Coefficient of variation of the gaps: 1 Poisson, > 1 bursty (two-state "
                  "modulated Poisson), 0 perfectly regular")
      ->capture_default_str();
  cmd->add_option("--requests", flags->requests, "Stop after this many requests have finished")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))->capture_default_str();
  cmd->add_option("--duration-s", flags->duration_s,
                  "Hard bound on the run's wall time; requests still out then are unanswered "
                  "(bench timeout)")
      ->check(CLI::Range(0.001, 86400.0))->capture_default_str();
  cmd->add_option("--connections", flags->connections, "Most keep-alive connections to open")
      ->check(CLI::Range(1, 10000))->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Seed of the arrival times")->capture_default_str();
  cmd->add_option("--json", flags->json,
                  "Also write the results as JSON to FILE, or to stdout with - (the table then goes "
                  "to stderr)");
  cmd->add_option("--quality", flags->quality,
                  "Quality of each model's answer for effective_quality: NAME=Q,... e.g. "
                  "embedding=1,svm=0.8,bayes=0.6,keysearch=0.4 (default: 1 for rank 0, 0.2 less "
                  "per rank, at least 0.2)");
  cmd->add_option("--question", flags->question, "inputs.question of every request")->capture_default_str();
  cmd->add_flag("--quiet", flags->quiet, "No progress line on stderr");
  cmd->add_option("--grpc", flags->grpc,
                  "Send the tries over the KServe v2 gRPC API to HOST:PORT (loopback only) instead of --url")
      ->excludes(cmd->get_option("--url"));
  AddCredentialFlags(cmd, flags->credentials, /*tls=*/false);  // loopback, plain text
  cmd->callback([flags] { SetExitCode(RunBench(*flags)); });
}

}  // namespace tbms::tools
