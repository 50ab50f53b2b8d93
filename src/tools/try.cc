// tbms try: asks a server for the best answer within a time budget and prints
// it. Exit 0 with a result (an answer or "no answer"), 1 on transport or HTTP
// errors, 2 on bad flags.
#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <iostream>
#include <simdjson.h>

#include "commands.h"
#include "tbms/common/json_writer.h"

namespace tbms::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct TryFlags {
  std::string url = "http://127.0.0.1:8000";
  std::string instance = "default";
  std::string models;
  double tloc = 50;
  int cross_request = 0;
  double cross_lag = 0;
  int priority = 0;
  std::string access_id;
  std::string access_key;
  double timeout_ms = 0;  // 0: tloc + 1 s
  bool json = false;
  std::string question;
};

struct Url {
  std::string host, port;
};

bool ParseUrl(const std::string& url, Url* out) {
  constexpr std::string_view kScheme = "http://";
  if (!std::string_view(url).starts_with(kScheme)) return false;
  std::string rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  out->host = rest.substr(0, colon);
  out->port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  return !out->host.empty() && !out->port.empty();
}

// "embedding:35,svm:25" -> [{"name": "embedding", "est": 35}, ...]
bool WriteModels(std::string_view spec, JsonWriter& w, std::string* error) {
  w.BeginArray();
  while (!spec.empty()) {
    const std::string_view item = spec.substr(0, spec.find(','));
    const size_t colon = item.find(':');
    w.BeginObject().Key("name").String(item.substr(0, colon));
    if (colon != std::string_view::npos) {
      double est;
      const std::string_view text = item.substr(colon + 1);
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), est);
      if (ec != std::errc() || p != text.data() + text.size() || est <= 0) {
        *error = "bad estimate in '" + std::string(item) + "' (NAME:MS, MS > 0)";
        return false;
      }
      w.Key("est").Number(est);
    }
    if (item.empty() || colon == 0) {
      *error = "empty model name in --models";
      return false;
    }
    w.EndObject();
    if (item.size() == spec.size()) break;
    spec.remove_prefix(item.size() + 1);
  }
  w.EndArray();
  return true;
}

void PrintResult(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element r;
  if (parser.parse(body).get(r) != simdjson::SUCCESS) {
    std::cout << body << "\n";
    return;
  }
  auto answer = r["answer"];
  if (answer.is_null()) {
    std::cout << "no answer (" << r["reason"].get_string().value_unsafe() << ")\n";
  } else {
    std::string_view s;
    if (answer.get_string().get(s) == simdjson::SUCCESS) {
      std::cout << s << "\n";
    } else {
      std::cout << simdjson::minify(answer.value_unsafe()) << "\n";
    }
    std::cout << "model: " << r["model"].get_string().value_unsafe() << " (rank "
              << r["rank"].get_int64().value_unsafe() << ")";
    std::string_view reason;
    if (r["reason"].get_string().get(reason) == simdjson::SUCCESS) std::cout << ", downgraded: " << reason;
    std::cout << "\n";
  }
  std::cout << "elapsed: " << r["elapsed_ms"].get_double().value_unsafe() << " ms\n";
  simdjson::dom::array attempts;
  if (r["attempts"].get_array().get(attempts) == simdjson::SUCCESS) {
    for (auto a : attempts) {
      std::cout << "  " << a["model"].get_string().value_unsafe() << ": "
                << a["state"].get_string().value_unsafe() << " at "
                << a["started_ms"].get_double().value_unsafe() << " ms, "
                << a["latency_ms"].get_double().value_unsafe() << " ms\n";
    }
  }
}

int RunTry(const TryFlags& f) {
  Url url;
  if (!ParseUrl(f.url, &url)) {
    std::cerr << "tbms try: --url must look like http://HOST:PORT\n";
    return 2;
  }
  std::string body, error;
  JsonWriter w(body);
  w.BeginObject().Key("inputs").BeginObject().Key("question").String(f.question).EndObject();
  w.Key("models");
  if (!WriteModels(f.models, w, &error)) {
    std::cerr << "tbms try: " << error << "\n";
    return 2;
  }
  w.Key("tloc").Number(f.tloc).Key("crossRequest").Int(f.cross_request);
  w.Key("crossLag").Number(f.cross_lag).Key("priority").Int(f.priority).EndObject();

  const double timeout_ms = f.timeout_ms > 0 ? f.timeout_ms : f.tloc + 1000;
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::microseconds(static_cast<int64_t>(timeout_ms * 1000)));
    stream.connect(asio::ip::tcp::resolver(ioc).resolve(url.host, url.port));
    http::request<http::string_body> req{http::verb::post,
                                         "/v1/instances/" + f.instance + "/try", 11};
    req.set(http::field::host, url.host);
    req.set(http::field::content_type, "application/json");
    if (!f.access_id.empty()) req.set("X-TBMS-Access-Id", f.access_id);
    req.body() = body;
    req.prepare_payload();
    // Sync calls on a tcp_stream ignore its timer; run them as async ops.
    beast::error_code ec;
    http::async_write(stream, req, [&](beast::error_code e, size_t) { ec = e; });
    ioc.run();
    if (ec) throw beast::system_error(ec);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    ioc.restart();
    http::async_read(stream, buffer, res, [&](beast::error_code e, size_t) { ec = e; });
    ioc.run();
    if (ec == beast::error::timeout) {
      std::cerr << "tbms try: no response within " << timeout_ms << " ms\n";
      return 1;
    }
    if (ec) throw beast::system_error(ec);
    if (res.result_int() != 200) {
      std::cerr << "tbms try: HTTP " << res.result_int() << ": " << res.body() << "\n";
      return 1;
    }
    if (f.json) {
      std::cout << res.body() << "\n";
    } else {
      PrintResult(res.body());
    }
  } catch (const std::exception& e) {
    std::cerr << "tbms try: cannot reach " << f.url << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddTry(CLI::App& app) {
  auto flags = std::make_shared<TryFlags>();
  CLI::App* cmd = app.add_subcommand("try", "Ask a TBMS server for the best answer within tloc");
  cmd->add_option("--url", flags->url, "Server URL")->capture_default_str();
  cmd->add_option("--instance", flags->instance, "Instance name")->capture_default_str();
  cmd->add_option("--models", flags->models,
                  "Ranked candidates, best first: NAME[:EST_MS],... e.g. "
                  "embedding:35,svm:25,bayes:15,keysearch:5")->required();
  cmd->add_option("--tloc", flags->tloc, "Time budget in ms")->check(CLI::Range(0.001, 600000.0))->capture_default_str();
  cmd->add_option("--cross-request", flags->cross_request, "Extra attempts allowed in flight")
      ->check(CLI::Range(0, 16))->capture_default_str();
  cmd->add_option("--cross-lag", flags->cross_lag, "Minimum ms between launches")
      ->check(CLI::Range(0.0, 600000.0))->capture_default_str();
  cmd->add_option("--priority", flags->priority, "Higher is more urgent")
      ->check(CLI::Range(-1000, 1000))->capture_default_str();
  cmd->add_option("--access-id", flags->access_id, "Access id of the instance");
  cmd->add_option("--access-key", flags->access_key, "Access key (signing arrives with auth)");
  cmd->add_option("--timeout-ms", flags->timeout_ms, "Client timeout (default: tloc + 1000)");
  cmd->add_flag("--json", flags->json, "Print the raw JSON response");
  cmd->add_option("question", flags->question, "The question")->required();
  cmd->callback([flags] { SetExitCode(RunTry(*flags)); });
}

namespace {
int g_exit_code = 0;
}
void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace tbms::tools
