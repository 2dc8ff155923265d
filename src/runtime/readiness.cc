#include "runtime/readiness.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace portcullis::runtime {

bool Readiness::ready() const {
  return std::none_of(not_ready.begin(), not_ready.end(),
                      [](const NotReady& n) { return n.gating; });
}

std::string Readiness::json() const {
  boost::json::object o;
  o["ready"] = ready();
  if (!not_ready.empty()) {
    boost::json::array list;
    for (const auto& n : not_ready) {
      list.push_back(boost::json::object{
          {"dependency", n.dependency}, {"reason", n.reason}, {"gating", n.gating}});
    }
    o["not_ready"] = std::move(list);
  }
  return boost::json::serialize(o);
}

Readiness Readiness::draining() {
  return Readiness{{NotReady{"server", "draining", true}}};
}

}  // namespace portcullis::runtime
