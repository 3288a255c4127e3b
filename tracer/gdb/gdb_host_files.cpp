#include "tracer/gdb/gdb_host_files.hpp"

#include "tracer/gdb/gdb_protocol.hpp"
#include "base/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mrd::tracer::gdb {
namespace {

// gdb's struct stat for vFile:fstat: big-endian fields.
std::string gdb_stat(const struct stat& st) {
    std::string out;
    auto put = [&](uint64_t v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    put(st.st_dev, 4); put(st.st_ino, 4); put(st.st_mode, 4); put(st.st_nlink, 4); put(st.st_uid, 4);
    put(st.st_gid, 4); put(st.st_rdev, 4); put(static_cast<uint64_t>(st.st_size), 8);
    put(static_cast<uint64_t>(st.st_blksize), 8); put(static_cast<uint64_t>(st.st_blocks), 8);
    put(static_cast<uint64_t>(st.st_atime), 4); put(static_cast<uint64_t>(st.st_mtime), 4);
    put(static_cast<uint64_t>(st.st_ctime), 4);
    return out;
}

}  // namespace

std::string HostFiles::request(const std::string& p) {
    std::string body = p.substr(6);
    auto colon = body.find(':');
    std::string op = body.substr(0, colon);
    auto args = split(colon == std::string::npos ? "" : body.substr(colon + 1), ',');
    auto err = [](int e) { return "F-1," + hex_number(static_cast<uint64_t>(e)); };
    if (op == "setfs") return "F0";
    if (op == "open" && args.size() >= 2) {
        auto path = from_hex(args[0]);
        auto flags = parse_hex(args[1]);
        if (!path || !flags) return err(EINVAL);
        int fd = ::open(std::string(path->begin(), path->end()).c_str(), O_RDONLY | O_CLOEXEC);  // gdb only reads
        if (fd < 0) return err(errno);
        files_.insert(fd);
        return "F" + hex_number(static_cast<uint64_t>(fd));
    }
    if (op == "pread" && args.size() == 3) {
        auto fd = parse_hex(args[0]), count = parse_hex(args[1]), offset = parse_hex(args[2]);
        if (!fd || !count || !offset || !files_.count(static_cast<int>(*fd))) return err(EBADF);
        std::string data(std::min<uint64_t>(*count, 16384), '\0');
        ssize_t n = ::pread(static_cast<int>(*fd), data.data(), data.size(), static_cast<off_t>(*offset));
        if (n < 0) return err(errno);
        data.resize(static_cast<size_t>(n));
        return "F" + hex_number(static_cast<uint64_t>(n)) + ";" + data;
    }
    if (op == "close" && args.size() == 1) {
        auto fd = parse_hex(args[0]);
        if (!fd || !files_.count(static_cast<int>(*fd))) return err(EBADF);
        ::close(static_cast<int>(*fd));
        files_.erase(static_cast<int>(*fd));
        return "F0";
    }
    if (op == "fstat" && args.size() == 1) {
        auto fd = parse_hex(args[0]);
        struct stat st{};
        if (!fd || !files_.count(static_cast<int>(*fd)) || ::fstat(static_cast<int>(*fd), &st) != 0) return err(EBADF);
        std::string s = gdb_stat(st);
        return "F" + hex_number(s.size()) + ";" + s;
    }
    if (op == "readlink" && args.size() == 1) {
        auto path = from_hex(args[0]);
        if (!path) return err(EINVAL);
        auto target = read_link(std::string(path->begin(), path->end()));
        if (!target) return err(target.error().code);
        return "F" + hex_number(target->size()) + ";" + *target;
    }
    return "";
}

void HostFiles::close_all() {
    for (int fd : files_) ::close(fd);
    files_.clear();
}

}  // namespace mrd::tracer::gdb
