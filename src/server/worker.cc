#include "server/worker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/http_session.h"

namespace portcullis::server {

namespace asio = boost::asio;

asio::awaitable<void> Worker::sweep() {
  asio::steady_timer timer(ioc_);
  for (;;) {
    timer.expires_after(kSweepInterval);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    now_ = Clock::now();
    // check_deadline only cancels operations (their handlers run later), so the set is not
    // modified while we iterate.
    for (auto* s : sessions_) s->check_deadline(now_);
  }
}

void Worker::close_idle_sessions() {
  std::vector<HttpSession*> all(sessions_.begin(), sessions_.end());
  for (auto* s : all) s->close_idle();
}

void Worker::cut_sessions() {
  std::vector<HttpSession*> all(sessions_.begin(), sessions_.end());
  for (auto* s : all) s->cut();
}

}  // namespace portcullis::server
