#include "tracer/shadow_tree.hpp"

#include "wire/log.hpp"
#include "wire/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <vector>

namespace mrd::tracer {

using namespace mrd::wire;

std::string normalize_path(const std::string& path) {
    std::vector<std::string> parts;
    std::istringstream in(path);
    for (std::string part; std::getline(in, part, '/');) {
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(part);
    }
    std::string out;
    for (auto& p : parts) out += "/" + p;
    return out.empty() ? "/" : out;
}

ShadowTree::~ShadowTree() {
    if (root_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
}

Status ShadowTree::create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/mirrord-files-XXXXXX";
    if (!::mkdtemp(templ.data())) return Error::from_errno("creating " + templ);
    ::chmod(templ.c_str(), 0755);  // the program may switch users; the copies keep their own modes
    root_ = templ;
    return {};
}

Status ShadowTree::make_parents(const std::string& local) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(local).parent_path(), ec);
    if (ec) return Error{ec.value(), "creating the directory for " + local + ": " + ec.message()};
    return {};
}

Result<std::string> ShadowTree::put(const std::string& path, const std::string& content) {
    std::string local = local_path(path);
    if (auto st = make_parents(local); !st) return st.error();
    UniqueFd fd(::open(local.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        return Error::from_errno("writing " + local);
    return local;
}

co::Task<Result<std::string>> ShadowTree::fetch(const std::string& path) {
    std::string local = local_path(path);
    if (auto it = cache_.find(path); it != cache_.end()) {
        auto stat = reply_as<FileStatReply>(co_await agent_.call<FileStat>(path, true));
        if (!stat) co_return stat.error();
        if (it->second.size == stat->stat.size && it->second.mtime_ns == stat->stat.mtime_ns && it->second.ino == stat->stat.ino)
            co_return local;
    }

    auto opened = reply_as<FileOpened>(co_await agent_.call<FileOpen>(path, int32_t{O_RDONLY}, uint32_t{0}));
    if (!opened) co_return opened.error();
    if (auto st = make_parents(local); !st) co_return st.error();
    // Written beside and renamed into place: a program reading the old copy never sees half a file.
    std::string partial = local + ".mirrord-partial";
    UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) co_return Error::from_errno("creating " + partial);
    Status status;
    for (uint64_t offset = 0;;) {
        auto data = reply_as<FileData>(co_await agent_.call<FileRead>(opened->handle, offset, kMaxChunk));
        if (!data) {
            status = data.error();
            break;
        }
        if (!data->data.empty() && ::pwrite(fd.get(), data->data.data(), data->data.size(), static_cast<off_t>(offset)) !=
                                       static_cast<ssize_t>(data->data.size())) {
            status = Error::from_errno("writing " + partial);
            break;
        }
        offset += data->data.size();
        if (data->eof || data->data.empty()) break;
    }
    co_await agent_.call<FileClose>(opened->handle);
    if (!status) {
        ::unlink(partial.c_str());
        co_return status.error();
    }
    ::fchmod(fd.get(), (opened->stat.mode & 07777) | 0400);
    if (::rename(partial.c_str(), local.c_str()) != 0) co_return Error::from_errno("renaming " + partial);
    cache_[path] = Cached{opened->stat.size, opened->stat.mtime_ns, opened->stat.ino};
    co_return local;
}

}  // namespace mrd::tracer
