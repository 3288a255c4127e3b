#include "wire/text_file.hpp"

#include <fstream>
#include <sstream>

namespace mrd::wire {

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::from_errno("reading " + path);
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) return Error::from_errno("reading " + path);
    return text.str();
}

}  // namespace mrd::wire
