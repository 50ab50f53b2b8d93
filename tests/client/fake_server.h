// FakeServer: a loopback HTTP/1.1 server for the client's tests. Each
// connection has its own thread; every request is recorded (with the
// connection it came on) and answered by the test's handler. Blocking
// sockets, so a test's assertions need no waiting: a call that returned
// was seen.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tbms::client {

class FakeServer {
 public:
  struct Seen {
    std::string method, target, body, authorization;
    bool has_authorization = false;
    int connection = 0;  // 0, 1, ...: in the order they were accepted
  };
  struct Reply {
    int status = 200;
    std::string body = "";
    bool never = false;        // read the request, never answer
    bool close_after = false;  // close the connection after answering, without saying so
  };
  using Handler = std::function<Reply(const Seen&)>;

  explicit FakeServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}),
        accept_thread_([this] { AcceptLoop(); }) {}

  // Wakes the accept loop with one last connection; connection threads end
  // when their clients close (destroy clients first).
  ~FakeServer() {
    stopping_ = true;
    boost::asio::ip::tcp::socket wake(ioc_);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);
    accept_thread_.join();
    for (std::thread& t : connection_threads_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  int connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) return;
      int id;
      {
        std::lock_guard<std::mutex> lock(mu_);
        id = connections_++;
      }
      connection_threads_.emplace_back([this, socket, id] { Serve(*socket, id); });
    }
  }

  void Serve(boost::asio::ip::tcp::socket& socket, int id) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;  // the client closed the connection
      Seen s{std::string(req.method_string()), std::string(req.target()), req.body(), "", false, id};
      if (auto it = req.find(http::field::authorization); it != req.end()) {
        s.authorization = std::string(it->value());
        s.has_authorization = true;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(s);
      }
      const Reply reply = handler_(s);
      if (reply.never) continue;
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = reply.body;
      res.keep_alive(true);
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || reply.close_after) {
        socket.close(ec);
        return;
      }
    }
  }

  const Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<Seen> seen_;  // guarded by mu_
  int connections_ = 0;     // guarded by mu_
  std::vector<std::thread> connection_threads_;  // only on the accept thread, then the destructor
  std::thread accept_thread_;  // last: starts once the rest is built
};

}  // namespace tbms::client
