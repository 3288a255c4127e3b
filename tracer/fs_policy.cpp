#include "tracer/fs_policy.hpp"

#include <re2/re2.h>

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

Result<FsPolicy::Set> FsPolicy::compile(const std::vector<std::string>& patterns, const std::string& what) {
    auto set = std::make_shared<RE2::Set>(options(), RE2::UNANCHORED);
    for (auto& p : patterns) {
        std::string error;
        if (set->Add(p, &error) < 0) return Error::msg(what + ": invalid regular expression '" + p + "': " + error, EINVAL);
    }
    if (!set->Compile()) return Error::msg(what + ": the patterns are too large", EINVAL);
    return set;
}

bool FsPolicy::matches(const Set& set, const std::string& path) { return set->Match(path, nullptr); }

Result<FsPolicy> FsPolicy::create(const FsConfig& config, const Context& ctx) {
    FsPolicy policy;
    policy.mode_ = config.mode;
    struct Entry { Set* set; std::vector<std::string> patterns; const char* what; };
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
        {&policy.default_not_found_, not_found_defaults, "default not-found paths"},
        {&policy.default_remote_, {R"(^/etc/resolv\.conf$)", R"(^/etc/hosts$)", R"(^/etc/hostname$)", R"(^/etc/ssl/certs(/|$))"}, "default remote paths"},
        {&policy.default_local_, default_local_patterns(ctx), "default local paths"},
    };
    for (auto& e : entries) {
        auto set = compile(e.patterns, e.what);
        if (!set) return set.error();
        *e.set = *set;
    }
    for (auto& [pattern, replacement] : config.mapping) {
        auto re = std::make_shared<RE2>(pattern, options());
        if (!re->ok()) return Error::msg("feature.fs.mapping: invalid regular expression '" + pattern + "': " + re->error(), EINVAL);
        policy.mapping_.emplace_back(re, replacement);
    }
    return policy;
}

PathRoute FsPolicy::route(const std::string& path, bool write) const {
    using Mode = FsConfig::Mode;
    if (mode_ == Mode::local) return PathRoute::local;
    if (matches(not_found_, path)) return PathRoute::not_found;
    if (matches(read_write_, path)) return PathRoute::remote_write;
    if (matches(read_only_, path)) return write ? PathRoute::local : PathRoute::remote_read;
    if (matches(local_, path)) return PathRoute::local;
    if (matches(default_not_found_, path)) return PathRoute::not_found;
    if (!write && matches(default_remote_, path)) return PathRoute::remote_read;
    if (matches(default_local_, path)) return PathRoute::local;
    switch (mode_) {
        case Mode::localwithoverrides: return PathRoute::local;
        case Mode::write: return PathRoute::remote_write;
        default: return write ? PathRoute::local : PathRoute::remote_read;
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
