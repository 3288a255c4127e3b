#include "wire/text_file.hpp"

#include <cstdlib>
#include <unistd.h>

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

Result<std::string> make_temp_dir(const std::string& name) {
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + name + "-XXXXXX";
    if (!::mkdtemp(path.data())) return Error::from_errno("creating " + path);
    return path;
}

}  // namespace mrd::wire
