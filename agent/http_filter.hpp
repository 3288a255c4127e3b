// mirrord's HTTP steal filters, matched against a request head: header (a regex over "Name: value"
// lines), path (a regex over the request target), method (case-insensitive), and all_of/any_of
// combinations. Regexes are mirrord's (Rust/RE2) syntax.
#pragma once

#include "http/http1.hpp"
#include "wire/messages.hpp"
#include "base/result.hpp"

#include <memory>
#include <vector>

namespace re2 { class RE2; }

namespace mrd::agent {

class HttpMatcher {
public:
    static Result<HttpMatcher> compile(const wire::HttpFilter& filter);
    bool empty() const { return kind_ == Kind::none; }
    bool matches(const http::HttpHead& head) const;

private:
    enum class Kind { none, header, path, method, all_of, any_of };
    Kind kind_ = Kind::none;
    std::shared_ptr<re2::RE2> regex_;
    std::string method_;
    std::vector<HttpMatcher> children_;
};

}  // namespace mrd::agent
