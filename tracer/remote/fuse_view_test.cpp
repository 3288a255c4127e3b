#include "tracer/remote/fuse_view.hpp"

#include "base/temp_dir.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using namespace mrd;
using namespace mrd::tracer;

namespace {

char byte_at(uint64_t offset) { return static_cast<char>((offset * 7 + offset / 4096) % 251); }

bool can_mount(FuseView::Mounter how) {
    if (::access("/dev/fuse", R_OK | W_OK) != 0) return false;
    if (how == FuseView::Mounter::kernel) return ::geteuid() == 0;
    return ::system("command -v fusermount3 >/dev/null 2>&1") == 0;
}

}  // namespace

TEST_CASE("FuseView: a large file read by range, by read() and by mmap(), and retired") {
    for (auto how : {FuseView::Mounter::kernel, FuseView::Mounter::fusermount}) {
        if (!can_mount(how)) {
            WARN("cannot mount FUSE file systems here; skipped");
            continue;
        }
        auto dir = make_temp_dir("mirrord-fuse-test");
        REQUIRE(dir);
        constexpr uint64_t kSize = 1ull << 30;
        std::atomic<uint64_t> asked{0}, reads{0};
        std::atomic<uint64_t> gone{0};
        FuseView* view_ptr = nullptr;
        auto view = FuseView::mount(
            *dir,
            [&](uint64_t request, uint64_t, uint64_t offset, uint32_t size) {
                ++reads;
                asked += size;
                std::vector<char> data;
                for (uint64_t o = offset; o < std::min(kSize, offset + size); ++o) data.push_back(byte_at(o));
                view_ptr->answer_read(request, data);
            },
            [&](uint64_t node) { gone = node; }, how);
        REQUIRE(view);
        view_ptr = view->get();

        wire::FileStatInfo st;
        st.size = kSize;
        st.mode = S_IFREG | 0640;
        st.mtime_ns = 1700000000123456789;
        st.uid = 123;
        uint64_t node = (*view)->add("/data/big.db", st);
        std::string path = (*view)->path_of(node);
        CHECK((*view)->remote_path(path) == "/data/big.db");
        CHECK_FALSE((*view)->remote_path(*dir + "/999"));

        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(fd);
        CHECK(sweep_stale_temp_dirs({"mirrord-fuse-test"}) == 0);  // a live view: its lock is beneath the mount
        CHECK((*view)->remote_path(path) == "/data/big.db");
        struct stat s{};
        REQUIRE(::fstat(fd.get(), &s) == 0);
        CHECK(static_cast<uint64_t>(s.st_size) == kSize);
        CHECK((s.st_mode & 07777) == 0640);
        CHECK(s.st_mtim.tv_sec == 1700000000);
        CHECK(s.st_uid == 123);

        // 4 KiB at 700 MiB: a read or two (with readahead), not the gigabyte.
        char buffer[4096];
        uint64_t at = 700ull << 20;
        REQUIRE(::pread(fd.get(), buffer, sizeof buffer, static_cast<off_t>(at)) == 4096);
        bool same = true;
        for (size_t i = 0; i < sizeof buffer; ++i) same &= buffer[i] == byte_at(at + i);
        CHECK(same);
        CHECK(asked.load() < (16u << 20));
        uint64_t reads_before = reads;
        REQUIRE(::pread(fd.get(), buffer, sizeof buffer, static_cast<off_t>(at)) == 4096);  // cached
        CHECK(reads.load() == reads_before);

        // The end of the file, and past it.
        REQUIRE(::pread(fd.get(), buffer, 100, static_cast<off_t>(kSize - 10)) == 10);
        CHECK(buffer[9] == byte_at(kSize - 1));
        CHECK(::pread(fd.get(), buffer, 100, static_cast<off_t>(kSize)) == 0);

        // mmap: page faults become reads too.
        void* mapped = ::mmap(nullptr, 1 << 20, PROT_READ, MAP_SHARED, fd.get(), static_cast<off_t>(300ull << 20));
        REQUIRE(mapped != MAP_FAILED);
        CHECK(static_cast<char*>(mapped)[12345] == byte_at((300ull << 20) + 12345));
        ::munmap(mapped, 1 << 20);

        // Read-only, whatever the mode says.
        CHECK(::open(path.c_str(), O_WRONLY | O_CLOEXEC) < 0);
        CHECK((errno == EROFS || errno == EACCES));

        // Retired: the name goes, an open descriptor keeps reading, and the node is forgotten once
        // nothing refers to it.
        (*view)->retire(node);
        CHECK(::open(path.c_str(), O_RDONLY | O_CLOEXEC) < 0);
        CHECK(::pread(fd.get(), buffer, 10, 5) == 10);
        fd.reset();
        for (int i = 0; i < 200 && gone.load() != node; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CHECK(gone.load() == node);
        CHECK_FALSE((*view)->remote_path(path));

        view->reset();
        CHECK(::rmdir(dir->c_str()) == 0);  // unmounted
    }
}

TEST_CASE("FuseView: the mount of a session that was killed is swept with its directory") {
    if (!can_mount(FuseView::Mounter::kernel)) {
        WARN("cannot mount FUSE file systems here; skipped");
        return;
    }
    // What a killed supervisor leaves: a mount whose /dev/fuse descriptor is closed (ENOTCONN).
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/mirrord-deadview-XXXXXX";
    REQUIRE(::mkdtemp(dir.data()));
    {
        UniqueFd device(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
        REQUIRE(device);
        std::string options = "fd=" + std::to_string(device.get()) + ",rootmode=40000,user_id=0,group_id=0";
        REQUIRE(::mount("mirrord", dir.c_str(), "fuse.mirrord", MS_NOSUID | MS_NODEV | MS_RDONLY, options.c_str()) == 0);
    }
    struct stat st{};
    CHECK(::stat(dir.c_str(), &st) != 0);
    CHECK(errno == ENOTCONN);
    CHECK(sweep_stale_temp_dirs({"mirrord-deadview"}) == 1);
    CHECK(::lstat(dir.c_str(), &st) != 0);
}
