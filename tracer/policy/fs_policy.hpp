// Which paths the program sees from the target, following mirrord's feature.fs: the mode (local,
// localwithoverrides, read, write), the user's not_found / read_write / read_only / local regexes,
// and mirrord's built-in lists (system and per-user paths stay local; /etc/resolv.conf and friends
// are read remotely; cloud credentials are not found). Patterns use mirrord's (Rust/RE2) regex
// syntax and match case-insensitively.
#pragma once

#include "tracer/policy/config.hpp"

#include <re2/set.h>

#include <memory>
#include <string>
#include <vector>

namespace mrd::tracer {

enum class PathRoute { local, not_found, remote_read, remote_write };

class FsPolicy {
public:
    struct Context {
        std::string cwd;         // the directory mirrord was started in
        std::string home;        // $HOME
        std::string executable;  // the program
        std::string temp_dir = "/tmp";
    };
    // Validates the patterns; errors name the bad one.
    static Result<FsPolicy> create(const FsConfig& config, const Context& context);

    // The route, and with_rule, the rule that chose it ("feature.fs.local '\.js$'", "mirrord's
    // default local paths '^/usr(/|$)'", "feature.fs.mode read"); the policy owns the text.
    struct Decision {
        PathRoute route;
        const std::string* rule = nullptr;
    };
    // write: the program opens for writing (or creates, renames, deletes).
    Decision decide(const std::string& path, bool write, bool with_rule = false) const;
    PathRoute route(const std::string& path, bool write) const { return decide(path, write).route; }
    // feature.fs.mapping applied to a path (first matching pattern wins).
    std::string map(const std::string& path) const;
    bool enabled() const { return mode_ != FsConfig::Mode::local; }

private:
    struct Rules {
        std::shared_ptr<RE2::Set> set;
        std::vector<std::string> names;  // per pattern: where it comes from, and the pattern
    };
    static Result<Rules> compile(const std::vector<std::string>& patterns, const std::string& what);
    // Whether a pattern matches; with_rule, which one (the first) in *rule.
    static bool matches(const Rules& rules, const std::string& path, bool with_rule, const std::string** rule);

    FsConfig::Mode mode_ = FsConfig::Mode::read;
    std::string mode_rule_;
    Rules not_found_, read_write_, read_only_, local_, default_not_found_, default_remote_, default_local_;
    std::vector<std::pair<std::shared_ptr<RE2>, std::string>> mapping_;
};

}  // namespace mrd::tracer
