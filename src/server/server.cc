#include "server/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "admin/admin_server.h"
#include "common/nothrow.h"
#include "config/loader.h"
#include "observe/build_info.h"
#include "observe/gateway_log.h"
#include "observe/metrics.h"
#include "observe/process_metrics.h"
#include "server/http_session.h"
#include "server/worker.h"
#include "spdlog/spdlog.h"

namespace portcullis::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Worker& worker) {
  for (;;) {
    proxy::Socket socket(worker.ioc().get_executor());
    auto [ec] = co_await acceptor.async_accept(socket, nothrow);
    if (ec) {
      if (!acceptor.is_open() || worker.draining()) co_return;
      if (ec == asio::error::no_descriptors) {
        // Out of file descriptors: back off instead of spinning.
        asio::steady_timer t(worker.ioc(), std::chrono::milliseconds(50));
        co_await t.async_wait(nothrow);
      }
      continue;
    }
    const auto& rt = worker.runtime();
    if (static_cast<std::size_t>(worker.state().active_sessions.load()) >=
        rt->config->server.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      observe::Metrics::global().add_series(observe::series::kConnectionsRefused);
      continue;
    }
    HttpSession::start(std::move(socket), worker);
  }
}

}  // namespace

struct Server::Impl {
  std::string config_path;
  ServerState state;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // acceptors[i] runs on workers[i]
  std::vector<std::thread> threads;
  asio::io_context main_ioc{1};
  std::unique_ptr<admin::AdminServer> admin;
  config::ListenAddress listen;
  unsigned worker_count = 1;
  unsigned workers_setting = 1;  // server.workers as written (0: one per core)
  config::AdminConfig admin_started;
  std::unique_ptr<asio::steady_timer> lame_duck_timer;  // drain_delay_s after SIGTERM

  void reload() {
    spdlog::info("SIGHUP: reloading {}", config_path);
    auto result = config::load_config_file(config_path);
    config::check_loaded(result, config_path, runtime::check_config);
    for (const auto& w : result.warnings) spdlog::warn("{}", w.str());
    if (!result.ok()) {
      for (const auto& e : result.errors) spdlog::error("{}", e.str());
      spdlog::error("reload refused: the running configuration is unchanged");
      observe::Metrics::global().add(observe::series::kReloads, {{"result", "rejected"}});
      return;
    }
    std::string error;
    auto rt = runtime::build_runtime(result.config, state.runtime.get(), error);
    if (!rt) {
      spdlog::error("{}: {}", config_path, error);
      spdlog::error("reload refused: the running configuration is unchanged");
      observe::Metrics::global().add(observe::series::kReloads, {{"result", "rejected"}});
      return;
    }
    warn_restart_needed(*result.config);
    if (rt->tls != state.runtime.get()->tls) {
      spdlog::info(rt->tls ? "server.tls: new connections get the certificates as now configured"
                           : "server.tls removed: new connections are plain HTTP");
    }
    state.runtime.set(std::move(rt));
    // The messages' level and format are the one part of `log` outside the runtime.
    observe::configure_gateway_log(result.config->log.level, result.config->log.format);
    observe::Metrics::global().add(observe::series::kReloads, {{"result", "applied"}});
    spdlog::info("configuration reloaded");
  }

  // What a reload cannot change, compared with what was set up at start (not with the
  // previous file: a change stays pending until the restart).
  void warn_restart_needed(const config::Config& next) const {
    if (next.server.listen.str() != listen.str() || next.server.workers != workers_setting) {
      spdlog::warn("server.listen and server.workers changes take effect after a restart");
    }
    if (next.admin.enabled != admin_started.enabled ||
        (next.admin.enabled && next.admin.listen.str() != admin_started.listen.str())) {
      spdlog::warn("admin.listen and admin.enabled changes take effect after a restart");
    }
  }

  // SIGTERM/SIGINT. Lame duck first: /readyz fails at once while the listener keeps
  // accepting for drain_delay_s, so load balancers stop sending before connections are
  // refused. A second signal during the delay ends it.
  void begin_shutdown() {
    if (state.shutting_down.exchange(true)) {
      if (lame_duck_timer) lame_duck_timer->cancel();
      return;
    }
    const auto delay_s = state.runtime.get()->config->server.drain_delay_s;
    if (delay_s == 0) {
      begin_drain();
      return;
    }
    spdlog::info("shutting down: /readyz fails now; still accepting for {}s", delay_s);
    lame_duck_timer = std::make_unique<asio::steady_timer>(main_ioc, std::chrono::seconds(delay_s));
    lame_duck_timer->async_wait([this](const boost::system::error_code&) { begin_drain(); });
  }

  void begin_drain() {
    if (state.draining.exchange(true)) return;
    const auto drain_s = state.runtime.get()->config->server.drain_timeout_s;
    spdlog::info("draining: no new connections, in-flight requests get up to {}s", drain_s);
    for (std::size_t i = 0; i < workers.size(); ++i) {
      asio::post(workers[i]->ioc(), [this, i] {
        boost::system::error_code ec;
        acceptors[i]->close(ec);
        workers[i]->close_idle_sessions();
      });
    }
    asio::co_spawn(main_ioc,
                   wait_for_drain(std::chrono::steady_clock::now() + std::chrono::seconds(drain_s)),
                   asio::detached);
  }

  // Polls until no session is left or the deadline passes.
  asio::awaitable<void> wait_for_sessions(std::chrono::steady_clock::time_point deadline,
                                          bool close_idle) {
    asio::steady_timer timer(main_ioc);
    while (state.active_sessions.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(nothrow);
      if (!close_idle) continue;
      // Sessions that went idle after the drain began are closed too.
      for (auto& w : workers) {
        asio::post(w->ioc(), [wp = w.get()] { wp->close_idle_sessions(); });
      }
    }
  }

  asio::awaitable<void> wait_for_drain(std::chrono::steady_clock::time_point deadline) {
    co_await wait_for_sessions(deadline, true);
    if (state.active_sessions.load() > 0) {
      spdlog::warn("drain timeout: closing {} connections", state.active_sessions.load());
      // Cut them on their own workers, so each request in flight ends and is logged.
      for (auto& w : workers) {
        asio::post(w->ioc(), [wp = w.get()] { wp->cut_sessions(); });
      }
      co_await wait_for_sessions(std::chrono::steady_clock::now() + std::chrono::seconds(1), false);
    }
    for (auto& w : workers) w->ioc().stop();
    if (admin) admin->stop();
    main_ioc.stop();
  }

  bool open_acceptor(tcp::acceptor& acceptor, bool reuse_port, std::string& error) {
    boost::system::error_code ec;
    auto host = listen.host == "localhost" ? std::string("127.0.0.1") : listen.host;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) {
      error = "listen address " + listen.str() + ": " + ec.message();
      return false;
    }
    tcp::endpoint ep(addr, listen.port);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && reuse_port) {
      int one = 1;
      if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        ec = boost::system::error_code(errno, boost::system::system_category());
      }
    }
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(4096, ec);
    if (ec) {
      error = "listen " + listen.str() + ": " + ec.message();
      return false;
    }
    return true;
  }
  // One acceptor per worker (SO_REUSEPORT when there are several).
  bool open_listeners(const config::Config& initial, std::string& error) {
    listen = initial.server.listen;
    workers_setting = initial.server.workers;
    worker_count = initial.server.workers == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                               : initial.server.workers;
    for (unsigned i = 0; i < worker_count; ++i) {
      workers.push_back(std::make_unique<Worker>(state));
      acceptors.push_back(std::make_unique<tcp::acceptor>(workers.back()->ioc()));
      if (!open_acceptor(*acceptors.back(), worker_count > 1, error)) return false;
    }
    return true;
  }

  bool start_admin(const config::Config& initial, std::string& error) {
    admin_started = initial.admin;
    if (!initial.admin.enabled) return true;
    admin = std::make_unique<admin::AdminServer>(
        main_ioc,
        [this] {
          if (state.shutting_down.load()) return runtime::Readiness::draining();
          return state.runtime.get()->readiness();
        },
        [this] {
          const auto rt = state.runtime.get();
          return rt->signed_context ? rt->signed_context->jwks() : std::string();
        });
    return admin->start(initial.admin.listen, error);
  }

  void add_gauges() {
    auto& metrics = observe::Metrics::global();
    // Counters a dashboard alerts on exist from the start, at 0.
    metrics.add(observe::series::kReloads, {{"result", "applied"}}, 0);
    metrics.add(observe::series::kReloads, {{"result", "rejected"}}, 0);
    metrics.add(observe::series::kConnectionsRefused, {}, 0);
    const auto& build = observe::build_info();
    metrics.set_gauge(
        observe::series::kBuildInfo,
        {{"version", build.version}, {"commit", build.commit}, {"build_type", build.build_type}},
        1);
    metrics.add_collector([this](std::string& out) {
      auto gauge = [&out](std::string_view name, long value) {
        observe::Metrics::append_family_header(out, name, "gauge");
        out += name;
        out.push_back(' ');
        out += std::to_string(value);
        out.push_back('\n');
      };
      gauge(observe::series::kConnections, state.active_sessions.load());
      gauge("portcullis_requests_in_flight", state.active_requests.load());
      observe::append_process_metrics(out);
    });
  }

  // Each worker: its accept loop, its deadline sweeper, its thread.
  void start_workers() {
    for (unsigned i = 0; i < worker_count; ++i) {
      Worker& w = *workers[i];
      asio::co_spawn(w.ioc(), accept_loop(*acceptors[i], w), asio::detached);
      asio::co_spawn(w.ioc(), w.sweep(), asio::detached);
      threads.emplace_back([&w] {
        auto guard = asio::make_work_guard(w.ioc());
        for (;;) {
          try {
            w.ioc().run();
            break;
          } catch (const std::exception& e) {
            spdlog::error("worker: unexpected error: {}", e.what());
          }
        }
      });
    }
  }
};

Server::Server(std::string config_path) : impl_(std::make_unique<Impl>()) {
  impl_->config_path = std::move(config_path);
}

Server::~Server() = default;

int Server::run(std::shared_ptr<const config::Config> initial) {
  auto& d = *impl_;
  std::string error;
  auto rt = runtime::build_runtime(initial, error);
  if (!rt) {
    spdlog::error("{}: {}", d.config_path, error);
    return 1;
  }
  d.state.runtime.set(rt);
  if (!d.open_listeners(*initial, error) || !d.start_admin(*initial, error)) {
    spdlog::error("{}", error);
    return 1;
  }
  d.add_gauges();

  asio::signal_set signals(d.main_ioc, SIGHUP, SIGTERM, SIGINT);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          d.reload();
        } else {
          d.begin_shutdown();
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  d.start_workers();
  spdlog::info("portcullis {} listening on {} ({}) with {} worker(s); admin on {}",
               PORTCULLIS_VERSION, d.listen.str(), initial->server.tls ? "TLS" : "plain HTTP",
               d.worker_count,
               initial->admin.enabled ? initial->admin.listen.str() : std::string("(off)"));

  auto main_guard = asio::make_work_guard(d.main_ioc);
  d.main_ioc.run();
  for (auto& t : d.threads) t.join();
  d.state.runtime.get()->access_log->flush();
  spdlog::info("stopped");
  return 0;
}

}  // namespace portcullis::server
