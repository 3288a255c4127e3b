#include "k8s/json_subset.hpp"

#include <cstring>
#include <optional>

namespace mrd::k8s {
namespace {

using nlohmann::json;

struct Malformed {};  // json::parse then says what and where

// Walks the document without building it: the parts on the way to a wanted path are walked, a
// wanted value is handed whole to json::parse, and everything else is skipped at the speed of a
// byte scan (its structure is followed, its contents are not checked).
class SubsetReader {
public:
    SubsetReader(std::string_view text, const std::vector<std::string>& paths) : text_(text) {
        for (auto& p : paths) {
            std::vector<std::string> parts;
            for (size_t at = 1; at <= p.size();) {
                size_t slash = p.find('/', at);
                if (slash == std::string::npos) slash = p.size();
                parts.push_back(p.substr(at, slash - at));
                at = slash + 1;
            }
            patterns_.push_back(std::move(parts));
        }
    }

    json read() {
        auto value = read_value();
        space();
        if (at_ != text_.size()) throw Malformed{};
        return value ? std::move(*value) : json();
    }

private:
    enum class Match { none, on_the_way, inside };

    Match match() const {
        Match best = Match::none;
        for (auto& pattern : patterns_) {
            size_t n = std::min(pattern.size(), path_.size()), i = 0;
            while (i < n && (pattern[i] == path_[i])) ++i;
            if (i < n) continue;
            if (path_.size() >= pattern.size()) return Match::inside;
            best = Match::on_the_way;
        }
        return best;
    }

    std::optional<json> read_value() {
        space();
        size_t start = at_;
        Match m = match();
        if (m == Match::inside) {
            skip_value();
            return json::parse(text_.substr(start, at_ - start));
        }
        char c = peek();
        if (m == Match::none || (c != '{' && c != '[')) {
            skip_value();
            return std::nullopt;
        }
        ++at_;
        json out = c == '{' ? json::object() : json::array();
        space();
        if (peek() == (c == '{' ? '}' : ']')) {
            ++at_;
            return out;
        }
        for (;;) {
            if (c == '{') {
                space();
                path_.push_back(key());
                space();
                expect(':');
            } else {
                path_.push_back("*");
            }
            auto value = read_value();
            if (value) {
                if (c == '{') out[path_.back()] = std::move(*value);
                else out.push_back(std::move(*value));
            }
            path_.pop_back();
            space();
            char next = peek();
            ++at_;
            if (next == ',') continue;
            if (next == (c == '{' ? '}' : ']')) return out;
            throw Malformed{};
        }
    }

    std::string key() {
        if (peek() != '"') throw Malformed{};
        size_t start = at_;
        skip_string();
        std::string_view raw = text_.substr(start + 1, at_ - start - 2);
        if (raw.find('\\') == std::string_view::npos) return std::string(raw);
        return json::parse(text_.substr(start, at_ - start)).get<std::string>();  // escapes
    }

    void skip_value() {
        space();
        char c = peek();
        if (c == '"') return skip_string();
        if (c != '{' && c != '[') {  // a number or a literal
            size_t start = at_;
            while (at_ < text_.size() && !std::strchr(",}] \t\r\n", text_[at_])) ++at_;
            if (at_ == start) throw Malformed{};
            return;
        }
        int depth = 0;
        while (at_ < text_.size()) {
            char b = text_[at_];
            if (b == '"') {
                skip_string();
                continue;
            }
            ++at_;
            if (b == '{' || b == '[') ++depth;
            else if ((b == '}' || b == ']') && --depth == 0) return;
        }
        throw Malformed{};
    }

    void skip_string() {  // from the opening quote to past the closing one
        for (size_t from = at_ + 1;;) {
            auto* quote = static_cast<const char*>(std::memchr(text_.data() + from, '"', text_.size() - from));
            if (!quote) throw Malformed{};
            size_t q = static_cast<size_t>(quote - text_.data()), backslashes = 0;
            while (q - backslashes > at_ && text_[q - backslashes - 1] == '\\') ++backslashes;
            from = q + 1;
            if (backslashes % 2 == 0) {
                at_ = from;
                return;
            }
        }
    }

    void space() {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t')) ++at_;
    }
    char peek() const {
        if (at_ >= text_.size()) throw Malformed{};
        return text_[at_];
    }
    void expect(char c) {
        if (peek() != c) throw Malformed{};
        ++at_;
    }

    std::string_view text_;
    size_t at_ = 0;
    std::vector<std::vector<std::string>> patterns_;
    std::vector<std::string> path_;
};

}  // namespace

json parse_subset(std::string_view text, const std::vector<std::string>& paths) {
    if (paths.empty()) return json::parse(text);
    try {
        return SubsetReader(text, paths).read();
    } catch (const Malformed&) {
        return json::parse(text);  // throws, saying what is wrong where
    }
}

}  // namespace mrd::k8s
