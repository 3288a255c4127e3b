// Which paths the program sees from the target, following mirrord's feature.fs: the mode (local,
// localwithoverrides, read, write), the user's not_found / read_write / read_only / local regexes,
// and mirrord's built-in lists (system and per-user paths stay local; /etc/resolv.conf and friends
// are read remotely; cloud credentials are not found). Patterns use mirrord's (Rust/RE2) regex
// syntax and match case-insensitively.
#pragma once

#include "tracer/config.hpp"

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

    // write: the program opens for writing (or creates, renames, deletes).
    PathRoute route(const std::string& path, bool write) const;
    // feature.fs.mapping applied to a path (first matching pattern wins).
    std::string map(const std::string& path) const;
    bool enabled() const { return mode_ != FsConfig::Mode::local; }

private:
    using Set = std::shared_ptr<RE2::Set>;
    static Result<Set> compile(const std::vector<std::string>& patterns, const std::string& what);
    static bool matches(const Set& set, const std::string& path);

    FsConfig::Mode mode_ = FsConfig::Mode::read;
    Set not_found_, read_write_, read_only_, local_, default_not_found_, default_remote_, default_local_;
    std::vector<std::pair<std::shared_ptr<RE2>, std::string>> mapping_;
};

}  // namespace mrd::tracer
