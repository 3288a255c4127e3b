#include "tracer/policy/environment.hpp"

#include "base/text_file.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <sstream>

extern char** environ;

namespace mrd::tracer {

bool wildcard_match(const std::string& pattern, const std::string& text) {
    size_t p = 0, t = 0, star = std::string::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (star != std::string::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool always_local(const std::string& name) {
    static const char* const names[] = {
        "BUNDLER_ORIG_BUNDLER_ORIG_MANPATH", "BUNDLER_ORIG_BUNDLER_VERSION", "BUNDLER_ORIG_BUNDLE_BIN_PATH",
        "BUNDLER_ORIG_BUNDLE_GEMFILE", "BUNDLER_ORIG_GEM_HOME", "BUNDLER_ORIG_MANPATH", "BUNDLER_ORIG_PATH",
        "BUNDLER_ORIG_RB_USER_INSTALL", "BUNDLER_ORIG_RUBYLIB", "BUNDLER_ORIG_RUBYOPT", "BUNDLER_VERSION",
        "BUNDLE_APP_CONFIG", "BUNDLE_BIN_PATH", "BUNDLE_FORCE_RUBY_PLATFORM", "BUNDLE_GEMFILE", "BUNDLE_GEM_PATH",
        "BUNDLE_PATH", "BUNDLE_WITHOUT", "CATALINA_HOME", "CLASSPATH", "DOTNET_EnableDiagnostics",
        "DOTNET_STARTUP_HOOKS", "GEM_HOME", "GEM_PATH", "GOPATH", "GOMODCACHE", "HOME", "HOMEPATH", "JAVA_EXE",
        "JAVA_HOME", "JAVA_TOOL_OPTIONS", "PATH", "PWD", "PYTHONPATH", "RUBYLIB", "RUBYOPT", "MIRRORD_LOG",
        "RUST_LOG", "_JAVA_OPTIONS",
    };
    return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

Result<EnvMap> parse_env_text(const std::string& text) {
    EnvMap out;
    std::istringstream in(text);
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        ++number;
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        line = line.substr(first);
        if (line.rfind("export ", 0) == 0) line = line.substr(7);
        auto eq = line.find('=');
        if (eq == std::string::npos || eq == 0)
            return Error::msg("line " + std::to_string(number) + ": expected KEY=VALUE", EINVAL);
        std::string key = line.substr(0, eq), value = line.substr(eq + 1);
        key.erase(key.find_last_not_of(" \t") + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
            char quote = value[0];
            auto end = value.find(quote, 1);
            if (end == std::string::npos) return Error::msg("line " + std::to_string(number) + ": unclosed quote", EINVAL);
            std::string inner = value.substr(1, end - 1);
            if (quote == '"') {  // the escapes dotenv files use
                std::string unescaped;
                for (size_t i = 0; i < inner.size(); ++i) {
                    if (inner[i] == '\\' && i + 1 < inner.size()) {
                        char c = inner[++i];
                        unescaped += c == 'n' ? '\n' : c == 't' ? '\t' : c;
                    } else {
                        unescaped += inner[i];
                    }
                }
                inner = unescaped;
            }
            value = inner;
        } else {
            auto hash = value.find(" #");
            if (hash != std::string::npos) value = value.substr(0, hash);
            value.erase(value.find_last_not_of(" \t\r") + 1);
        }
        out[key] = value;
    }
    return out;
}

Result<EnvMap> read_env_file(const std::string& path) {
    auto text = read_file(path);
    if (!text) return text.error().context("env file");
    auto env = parse_env_text(*text);
    if (!env) return env.error().context("env file " + path);
    return env;
}

Result<EnvMap> merge_environment(const EnvConfig& config, const EnvMap& local, const EnvMap& remote) {
    EnvMap result = local;
    if (config.enabled) {
        auto matches_any = [](const std::vector<std::string>& patterns, const std::string& name) {
            return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return wildcard_match(p, name); });
        };
        for (auto& [name, value] : remote) {
            bool included = config.include.empty() ? !always_local(name) : matches_any(config.include, name);
            if (included && !matches_any(config.exclude, name)) result[name] = value;
        }
    }
    if (!config.env_file.empty()) {
        auto file = read_env_file(config.env_file);
        if (!file) return file.error();
        for (auto& [k, v] : *file) result[k] = v;
    }
    // mapping: the first pattern found in a variable's name sets its value (as mirrord does).
    std::vector<std::pair<std::unique_ptr<RE2>, std::string>> mapping;
    for (auto& [pattern, value] : config.mapping) mapping.emplace_back(std::make_unique<RE2>(pattern), value);
    for (auto& [name, current] : result)
        for (auto& [re, value] : mapping)
            if (RE2::PartialMatch(name, *re)) {
                current = value;
                break;
            }
    for (auto& [k, v] : config.override_vars) result[k] = v;
    for (auto& name : config.unset) {
        std::string lowered = name;
        std::transform(lowered.begin(), lowered.end(), lowered.begin(), ::tolower);
        std::erase_if(result, [&](const auto& kv) {
            std::string key = kv.first;
            std::transform(key.begin(), key.end(), key.begin(), ::tolower);
            return key == lowered;
        });
    }
    return result;
}

EnvMap current_environment() {
    EnvMap env;
    for (char** e = environ; *e; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq != std::string::npos) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    return env;
}

std::vector<std::string> to_envp(const EnvMap& env) {
    std::vector<std::string> out;
    for (auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

}  // namespace mrd::tracer
