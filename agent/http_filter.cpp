#include "agent/http_filter.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

namespace mrd::agent {

Result<HttpMatcher> HttpMatcher::compile(const wire::HttpFilter& filter) {
    HttpMatcher m;
    if (filter.kind.empty()) return m;
    if (filter.kind == "all_of" || filter.kind == "any_of") {
        m.kind_ = filter.kind == "all_of" ? Kind::all_of : Kind::any_of;
        for (auto& child : filter.children) {
            auto c = compile(child);
            if (!c) return c.error();
            m.children_.push_back(std::move(*c));
        }
        return m;
    }
    if (filter.kind == "method") {
        m.kind_ = Kind::method;
        m.method_ = filter.pattern;
        std::transform(m.method_.begin(), m.method_.end(), m.method_.begin(), ::toupper);
        return m;
    }
    if (filter.kind != "header" && filter.kind != "path")
        return Error::msg("unknown HTTP filter kind '" + filter.kind + "'", EINVAL);
    m.kind_ = filter.kind == "header" ? Kind::header : Kind::path;
    RE2::Options options;
    options.set_log_errors(false);
    m.regex_ = std::make_shared<RE2>(filter.pattern, options);
    if (!m.regex_->ok()) return Error::msg("invalid " + filter.kind + " filter '" + filter.pattern + "': " + m.regex_->error(), EINVAL);
    return m;
}

bool HttpMatcher::matches(const http::HttpHead& head) const {
    switch (kind_) {
        case Kind::none: return true;
        case Kind::header:
            return std::any_of(head.headers.begin(), head.headers.end(), [&](const auto& h) {
                return RE2::PartialMatch(h.first + ": " + h.second, *regex_);
            });
        case Kind::path: return RE2::PartialMatch(head.target, *regex_);
        case Kind::method: {
            std::string method = head.method;
            std::transform(method.begin(), method.end(), method.begin(), ::toupper);
            return method == method_;
        }
        case Kind::all_of:
            return std::all_of(children_.begin(), children_.end(), [&](const HttpMatcher& c) { return c.matches(head); });
        case Kind::any_of:
            return std::any_of(children_.begin(), children_.end(), [&](const HttpMatcher& c) { return c.matches(head); });
    }
    return false;
}

}  // namespace mrd::agent
