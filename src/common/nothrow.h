// The completion token of every coroutine on an Asio executor here: results come back as a
// tuple (error code first), never as an exception.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace portcullis {

inline constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace portcullis
