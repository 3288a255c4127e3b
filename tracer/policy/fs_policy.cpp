#include "tracer/policy/fs_policy.hpp"

#include <re2/re2.h>

#include <algorithm>

namespace mrd::tracer {
namespace {

RE2::Options options() {
    RE2::Options o;
    o.set_case_sensitive(false);
    o.set_log_errors(false);
    return o;
}

std::vector<std::string> default_local_patterns(const FsPolicy::Context& ctx) {
    std::vector<std::string> p = {
        R"(.\.so$)", R"(.\.sh$)", R"(.\.rb$)", R"(.\.d$)", R"(.\.pyc$)", R"(.\.py$)", R"(.\.jar$)",
        R"(.\.class$)", R"(.\.js$)", R"(.\.pth$)", R"(.\.plist$)", R"(venv\.cfg$)",
        R"(^/proc(/|$))", R"(^/sys(/|$))", R"(^/lib(/|$))", R"(^/lib64(/|$))", R"(^/etc(/|$))",
        R"(^/usr(/|$))", R"(^/home(/|$))", R"(^/bin(/|$))", R"(^/sbin(/|$))", R"(^/dev(/|$))",
        R"(^/opt(/|$))", R"(^/tmp(/|$))", R"(^/var/tmp(/|$))", R"(^/snap(/|$))", R"(^/run(/|$))",
        R"(^/selinux(/|$))", R"(^/nix(/|$))", R"(.+\.asdf/.+)", R"(\.pdb$)", R"(\.dll$)",
        R"(.*(^|/)jvm\.cfg$)", R"(/package\.json$)", R"(/\.yarnrc$)", R"(/\.yarnrc.yml$)",
        R"(/\.yarnrc.json$)", R"(/node_modules)", R"(.*/\.tool-versions$)", R"(^/$)",
    };
    p.push_back("^" + RE2::QuoteMeta(ctx.temp_dir));
    if (!ctx.cwd.empty() && ctx.cwd != "/") {
        std::string cwd = ctx.cwd;
        while (cwd.size() > 1 && cwd.back() == '/') cwd.pop_back();
        p.push_back("^" + RE2::QuoteMeta(cwd) + "(/|$)");
    }
    if (!ctx.executable.empty()) p.push_back(RE2::QuoteMeta(ctx.executable) + "$");
    if (!ctx.home.empty()) {
        std::string home = ctx.home;
        while (home.size() > 1 && home.back() == '/') home.pop_back();
        p.push_back("^" + RE2::QuoteMeta(home) + "/\\.");
    }
    return p;
}

}  // namespace

Result<FsPolicy::Rules> FsPolicy::compile(const std::vector<std::string>& patterns, const std::string& what) {
    Rules rules{std::make_shared<RE2::Set>(options(), RE2::UNANCHORED), {}};
    for (auto& p : patterns) {
        std::string error;
        if (rules.set->Add(p, &error) < 0) return Error::msg(what + ": invalid regular expression '" + p + "': " + error, EINVAL);
        rules.names.push_back(what + " '" + p + "'");
    }
    if (!rules.set->Compile()) return Error::msg(what + ": the patterns are too large", EINVAL);
    return rules;
}

bool FsPolicy::matches(const Rules& rules, const std::string& path, bool with_rule, const std::string** rule) {
    if (!with_rule) return rules.set->Match(path, nullptr);
    std::vector<int> hits;
    if (!rules.set->Match(path, &hits)) return false;
    *rule = &rules.names[static_cast<size_t>(*std::min_element(hits.begin(), hits.end()))];
    return true;
}

Result<FsPolicy> FsPolicy::create(const FsConfig& config, const Context& ctx) {
    FsPolicy policy;
    policy.mode_ = config.mode;
    struct Entry { Rules* rules; std::vector<std::string> patterns; const char* what; };
    std::string home = ctx.home;
    while (home.size() > 1 && home.back() == '/') home.pop_back();
    std::vector<std::string> not_found_defaults;
    if (!home.empty())
        for (const char* dir : {"\\.config/gcloud", "\\.kube", "\\.azure"}) not_found_defaults.push_back("^" + RE2::QuoteMeta(home) + "/" + dir);
    Entry entries[] = {
        {&policy.not_found_, config.not_found, "feature.fs.not_found"},
        {&policy.read_write_, config.read_write, "feature.fs.read_write"},
        {&policy.read_only_, config.read_only, "feature.fs.read_only"},
        {&policy.local_, config.local, "feature.fs.local"},
        {&policy.default_not_found_, not_found_defaults, "mirrord's default not-found paths"},
        {&policy.default_remote_, {R"(^/etc/resolv\.conf$)", R"(^/etc/hosts$)", R"(^/etc/hostname$)", R"(^/etc/ssl/certs(/|$))"}, "mirrord's default remote paths"},
        {&policy.default_local_, default_local_patterns(ctx), "mirrord's default local paths"},
    };
    for (auto& e : entries) {
        auto rules = compile(e.patterns, e.what);
        if (!rules) return rules.error();
        *e.rules = std::move(*rules);
    }
    static const char* const mode_names[] = {"local", "localwithoverrides", "read", "write"};
    policy.mode_rule_ = std::string("feature.fs.mode ") + mode_names[static_cast<int>(config.mode)];
    for (auto& [pattern, replacement] : config.mapping) {
        auto re = std::make_shared<RE2>(pattern, options());
        if (!re->ok()) return Error::msg("feature.fs.mapping: invalid regular expression '" + pattern + "': " + re->error(), EINVAL);
        policy.mapping_.emplace_back(re, replacement);
    }
    return policy;
}

FsPolicy::Decision FsPolicy::decide(const std::string& path, bool write, bool with_rule) const {
    using Mode = FsConfig::Mode;
    const std::string* rule = with_rule ? &mode_rule_ : nullptr;
    auto hit = [&](const Rules& rules) { return matches(rules, path, with_rule, &rule); };
    if (mode_ == Mode::local) return {PathRoute::local, rule};
    if (hit(not_found_)) return {PathRoute::not_found, rule};
    if (hit(read_write_)) return {PathRoute::remote_write, rule};
    if (hit(read_only_)) return {write ? PathRoute::local : PathRoute::remote_read, rule};
    if (hit(local_)) return {PathRoute::local, rule};
    if (hit(default_not_found_)) return {PathRoute::not_found, rule};
    if (!write && hit(default_remote_)) return {PathRoute::remote_read, rule};
    if (hit(default_local_)) return {PathRoute::local, rule};
    switch (mode_) {
        case Mode::localwithoverrides: return {PathRoute::local, rule};
        case Mode::write: return {PathRoute::remote_write, rule};
        default: return {write ? PathRoute::local : PathRoute::remote_read, rule};
    }
}

std::string FsPolicy::map(const std::string& path) const {
    for (auto& [re, replacement] : mapping_) {
        std::string out = path;
        // Rust's regex replacement syntax ($1, ${name}) is RE2's \1: translate the common forms.
        std::string rewrite;
        for (size_t i = 0; i < replacement.size(); ++i) {
            if (replacement[i] == '$' && i + 1 < replacement.size() && std::isdigit(static_cast<unsigned char>(replacement[i + 1]))) {
                rewrite += '\\';
                rewrite += replacement[++i];
            } else if (replacement[i] == '\\') {
                rewrite += "\\\\";
            } else {
                rewrite += replacement[i];
            }
        }
        if (RE2::Replace(&out, *re, rewrite)) return out;
    }
    return path;
}

}  // namespace mrd::tracer
