#include "base/text_file.hpp"

#include <cctype>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace mrd {

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::from_errno("reading " + path);
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) return Error::from_errno("reading " + path);
    return text.str();
}

Result<std::string> read_link(const std::string& path) {
    char target[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target);
    if (n < 0) return Error::from_errno("reading the link " + path);
    return std::string(target, static_cast<size_t>(n));
}

std::optional<long long> to_integer(std::string_view text) {
    long long n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return n;
}

std::string to_lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

}  // namespace mrd
