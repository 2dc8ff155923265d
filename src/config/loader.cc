// The config loader: YAML text -> validated Config. Every problem found is collected as a
// Diagnostic pointing at the offending node, so one `portcullis check` run shows them all.
// The sections are read by sections.h, with the one YamlReader (yaml_reader.h).
#include "config/loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "config/read_file.h"
#include "config/sections.h"
#include "url/path.h"

namespace portcullis::config {
namespace {

// Counts a stream's documents without building them, stopping at the second: yaml-cpp 0.7's
// LoadAll loops forever on some malformed input (",l,#?", found by tests/fuzz/config_fuzz).
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  std::optional<YAML::Mark> second;  // the second document's first node

  void OnDocumentStart(const YAML::Mark&) override { ++documents; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& m) {
    if (documents == 2 && !second) second = m;
  }
};

// Where a second document starts, if there is one.
std::optional<YAML::Mark> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
  }
  if (counter.documents < 2) return std::nullopt;
  return counter.second.value_or(YAML::Mark());
}

// The unquoted value after the "KEY:" whose colon is at `colon` that YAML reads as something
// else, as `KEY: "VALUE"`, with what it is: an IPv6 address ("[::1]:8080": '[' starts a flow
// sequence) or a wildcard host ("*.example.com": '*' starts an alias). Empty when it is neither.
std::string misread_value(std::string_view line, std::size_t colon, std::string& what) {
  auto in = [](char c, std::string_view set) { return set.find(c) != std::string_view::npos; };
  constexpr std::string_view kKey =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
  std::size_t key_end = colon;
  while (key_end > 0 && line[key_end - 1] == ' ') --key_end;
  std::size_t key_begin = key_end;
  while (key_begin > 0 && in(line[key_begin - 1], kKey)) --key_begin;
  std::size_t v = colon + 1;
  if (key_begin == key_end || v >= line.size() || (line[v] != ' ' && line[v] != '\t')) return {};
  while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
  std::size_t end = v;
  if (line.substr(v).starts_with("[")) {
    end = line.find_first_not_of("0123456789abcdefABCDEF.:", v + 1);
    if (end == std::string_view::npos || line[end] != ']' ||
        line.substr(v, end - v).find(':') == std::string_view::npos) {
      return {};
    }
    ++end;
    if (end + 1 < line.size() && line[end] == ':' && in(line[end + 1], "0123456789")) {
      end = std::min(line.size(), line.find_first_not_of("0123456789", end + 1));
    }
    what = "IPv6 addresses";
  } else if (line.substr(v).starts_with("*.")) {
    end = std::min(line.size(), line.find_first_not_of(std::string(kKey) + ".", v + 2));
    if (end == v + 2) return {};
    what = "wildcard hosts";
  } else {
    return {};
  }
  return std::string(line.substr(key_begin, key_end - key_begin)) + ": \"" +
         std::string(line.substr(v, end - v)) + "\"";
}

// A YAML syntax error caused by such a value gets a hint naming the fix. The value is looked
// for on the error's line and the two before it (a flow map can span lines); empty when none.
std::string syntax_hint(const std::string& text, const YAML::Mark& mark) {
  if (mark.line < 0) return {};
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    lines.emplace_back(text.data() + start, end - start);
    start = end + 1;
  }
  const int last = std::min<int>(mark.line, static_cast<int>(lines.size()) - 1);
  for (int i = last; i >= 0 && i >= mark.line - 2; --i) {
    const std::string_view line = lines[static_cast<std::size_t>(i)];
    for (std::size_t c = line.find(':'); c != std::string_view::npos; c = line.find(':', c + 1)) {
      std::string what;
      if (auto fix = misread_value(line, c, what); !fix.empty()) {
        return " (quote " + what + ": " + fix + ")";
      }
    }
  }
  return {};
}

class Loader {
 public:
  Loader(const std::string& file, std::string base_dir, std::string source_path)
      : diagnostics_(file),
        reader_(diagnostics_, std::move(base_dir)),
        source_path_(std::move(source_path)) {}

  LoadResult load(std::string_view yaml) {
    auto config = std::make_shared<Config>();
    config->source_path = source_path_;
    try {
      const std::string text(yaml);
      if (auto second = second_document(text)) {
        reader_.error(mark_of(*second),
                      "the file holds more than one YAML document; put everything in one");
      }
      load_root(YAML::Load(text), *config);
    } catch (const YAML::Exception& e) {
      // ParserException (syntax) and anything else yaml-cpp throws carry a position.
      reader_.error(mark_of(e.mark), e.msg + syntax_hint(std::string(yaml), e.mark));
    } catch (const std::exception& e) {
      reader_.error({}, std::string("internal error while loading: ") + e.what());
    }
    LoadResult result;
    result.errors = diagnostics_.take_errors();
    result.warnings = diagnostics_.take_warnings();
    if (result.errors.empty()) result.config = std::move(config);
    return result;
  }

 private:
  void load_root(const YAML::Node& root, Config& config) {
    YamlReader& r = reader_;
    if (!root.IsNull() && !root.IsMap()) {
      r.error(mark_of(root.Mark()), "the config must be a map of sections (server, routes, ...)");
      return;
    }
    // Sections are stashed, then loaded in dependency order: routes refer to upstreams
    // wherever they appear in the file.
    std::map<std::string, Entry> sections;
    auto stash = [&](const Entry& e) { sections[e.key] = e; };
    r.walk_map(root, mark_of(root.Mark()), "the top level",
               {{"server", stash},
                {"admin", stash},
                {"upstreams", stash},
                {"identity", stash},
                {"api_keys", stash},
                {"oauth2_providers", stash},
                {"jwt_providers", stash},
                {"client_cert", stash},
                {"routes", stash},
                {"rate_limits", stash},
                {"rate_limit_local", stash},
                {"log", stash},
                {"rate_limit_store", stash}});
    auto section = [&](const char* name) -> const Entry* {
      auto it = sections.find(name);
      return it == sections.end() ? nullptr : &it->second;
    };
    Mark server_listen_at, admin_listen_at;
    if (auto* e = section("server")) load_server(r, *e, config, server_listen_at);
    if (auto* e = section("admin")) load_admin(r, *e, config, admin_listen_at);
    std::set<std::string> declared_upstreams;
    if (auto* e = section("upstreams")) declared_upstreams = load_upstreams(r, *e, config);
    if (auto* e = section("identity")) load_identity(r, *e, config);
    if (auto* e = section("api_keys")) load_api_keys(r, *e, config);
    if (auto* e = section("oauth2_providers")) load_oauth2_providers(r, *e, config);
    if (auto* e = section("jwt_providers")) load_jwt_providers(r, *e, config);
    if (auto* e = section("client_cert")) load_client_cert(r, *e, config);
    std::set<std::string> declared_limits;
    if (auto* e = section("rate_limits")) declared_limits = load_rate_limits(r, *e, config);
    load_rate_limit_local(r, section("rate_limit_local"), config);
    if (auto* e = section("routes")) load_routes(r, *e, declared_upstreams, config);
    check_route_rate_limits(r, config, declared_limits);
    if (config.routes.empty() && r.error_count() == 0) {
      r.warning(mark_of(root.Mark()), "no routes are configured: every request will get 404");
    }
    if (auto* e = section("log")) load_log(r, *e, config);
    if (auto* e = section("rate_limit_store")) load_rate_limit_store(r, *e, config);
    check_listeners(r, config, server_listen_at, admin_listen_at);
    check_cert_binding(r, config);
    check_api_key_header(r, config);
    check_jwks_route(r, config);
  }

  Diagnostics diagnostics_;
  YamlReader reader_;
  std::string source_path_;
};

// Never throws: allocation failure or a bug still becomes a diagnostic.
LoadResult load_or_report(std::string_view yaml, const std::string& name,
                          const std::string& base_dir, const std::string& source_path) {
  try {
    return Loader(name, base_dir, source_path).load(yaml);
  } catch (const std::exception& e) {
    LoadResult result;
    result.errors.push_back({name, 0, 0, std::string("internal error while loading: ") + e.what()});
    return result;
  }
}

}  // namespace

std::string normalise_config_path(std::string_view path) {
  return url::normalise_path(path);
}

LoadResult load_config_string(std::string_view yaml, const std::string& name,
                              const std::string& base_dir) {
  return load_or_report(yaml, name, base_dir, name);
}

LoadResult load_config_file(const std::string& path) {
  std::string text, why;
  if (!read_file(path, text, why, kMaxConfigFileBytes)) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, "cannot read: " + why});
    return result;
  }
  // Absolute, so that a reload after a chdir still finds the file and its neighbours; as
  // given (and ".") when that fails. Paths rather than strings: assigning a literal to a
  // std::string here trips GCC 12's -Wrestrict false positive in Release builds.
  std::filesystem::path source_path(path), base_dir(".");
  try {
    std::filesystem::path abs = std::filesystem::absolute(path).lexically_normal();
    base_dir = abs.parent_path();
    source_path = std::move(abs);
  } catch (const std::exception&) {
    source_path = path;
    base_dir = ".";
  }
  return load_or_report(text, path, base_dir.string(), source_path.string());
}

void check_loaded(LoadResult& result, const std::string& file,
                  const std::function<void(const Config&, Diagnostics&)>& check) {
  if (!result.ok()) return;
  Diagnostics more(file);
  // The load's warnings go first, so that all come out in one order by position.
  for (const auto& w : result.warnings) more.warning({w.line, w.col}, w.message);
  check(*result.config, more);
  result.warnings = more.take_warnings();
  std::vector<Diagnostic> errors = more.take_errors();
  if (errors.empty()) return;
  result.errors = std::move(errors);
  result.config = nullptr;
}

}  // namespace portcullis::config
