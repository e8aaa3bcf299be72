// LineReader (net/line_reader.h) on real descriptors: a pipe fed in pieces,
// "\r\n" line ends, a last line without a newline delivered at end of
// input, lines longer than the limit cut into pieces, the reader destroyed
// from inside its own callbacks, and a regular file as input. Every test
// ends with the loop closing empty.
#include "net/line_reader.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/net_error.h"
#include "net/net_loop.h"
#include "tests/unit/net/net_test_support.h"

namespace xd::net {
namespace {

using test::run_until;
using Lines = std::vector<std::string>;

// A pipe whose read end a LineReader reads; the test writes the other end.
struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~Pipe() {
    close_write();
    // The reader never closes the descriptor it was given.
    ::close(read_fd);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void write(std::string_view data) const {
    REQUIRE(write_fd >= 0);
    while (!data.empty()) {
      const ssize_t n = ::write(write_fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n > 0);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close_write() {
    if (write_fd >= 0) ::close(write_fd);
    write_fd = -1;
  }
};

// A reader on |loop| that records what it delivers. |on_line_hook| and
// |on_end_hook| run after the recording and may destroy the reader.
struct Recorder {
  NetLoop& loop;
  Lines lines;
  int ended = 0;
  NetStatus end_status;
  std::unique_ptr<LineReader> reader;
  std::function<void(std::string_view)> on_line_hook;
  std::function<void()> on_end_hook;

  explicit Recorder(NetLoop& l, std::size_t max_line = 64 * 1024) : loop(l) {
    reader = std::make_unique<LineReader>(
        loop,
        [this](std::string_view line) {
          lines.emplace_back(line);
          if (on_line_hook) on_line_hook(line);
        },
        [this](NetStatus status) {
          ++ended;
          end_status = std::move(status);
          if (on_end_hook) on_end_hook();
        },
        max_line);
  }

  void start(int fd) {
    NetStatus status;
    REQUIRE_MESSAGE(reader->start(fd, status), status.to_string());
  }

  bool wait_lines(std::size_t n) {
    return run_until(loop, [&] { return lines.size() >= n; });
  }
  bool wait_end() {
    return run_until(loop, [&] { return ended > 0; });
  }
  // A few non-blocking iterations: whatever was ready has been delivered.
  void settle() {
    for (int i = 0; i < 5; ++i) loop.run_nowait();
  }
};

// A temporary regular file holding |contents|, positioned at its start.
struct TempFile {
  std::FILE* file = nullptr;
  explicit TempFile(std::string_view contents) {
    file = std::tmpfile();
    REQUIRE(file != nullptr);
    REQUIRE(std::fwrite(contents.data(), 1, contents.size(), file) == contents.size());
    REQUIRE(std::fflush(file) == 0);
    REQUIRE(::lseek(fileno(file), 0, SEEK_SET) == 0);
  }
  ~TempFile() { std::fclose(file); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fileno(file); }
};

TEST_SUITE("net.line_reader") {
  TEST_CASE("lines split across writes are joined; end of input is reported once") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      pipe.write("hel");
      r.settle();
      CHECK(r.lines.empty());
      pipe.write("lo\nwor");
      REQUIRE(r.wait_lines(1));
      CHECK(r.lines == Lines{"hello"});
      pipe.write("ld\n\nthree\nfour\n");
      REQUIRE(r.wait_lines(5));
      CHECK(r.lines == Lines{"hello", "world", "", "three", "four"});
      CHECK(r.ended == 0);
      pipe.close_write();
      REQUIRE(r.wait_end());
      CHECK(r.end_status.ok());
      CHECK(r.lines.size() == 5);  // no empty line invented at the end
      r.settle();
      CHECK(r.ended == 1);
    }
    CHECK(loop.close());
  }

  TEST_CASE("\"\\r\\n\" line ends are stripped; a lone \"\\r\" inside a line stays") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      pipe.write("a\r\nb\r\n\r\nx\ry\nc\r");
      pipe.write("\nd\n");
      REQUIRE(r.wait_lines(6));
      CHECK(r.lines == Lines{"a", "b", "", "x\ry", "c", "d"});
      pipe.close_write();
      REQUIRE(r.wait_end());
    }
    CHECK(loop.close());
  }

  TEST_CASE("a last line ending in \"\\r\" at end of input loses the \"\\r\" too") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      pipe.write("x\r\nlast\r");
      pipe.close_write();
      REQUIRE(r.wait_end());
      CHECK(r.lines == Lines{"x", "last"});
    }
    CHECK(loop.close());
  }

  TEST_CASE("a last line without a newline is delivered at end of input, before on_end") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      std::size_t lines_at_end = 0;
      r.on_end_hook = [&] { lines_at_end = r.lines.size(); };
      r.start(pipe.read_fd);
      pipe.write("first\nlast words");
      REQUIRE(r.wait_lines(1));
      r.settle();
      CHECK(r.lines == Lines{"first"});
      pipe.close_write();
      REQUIRE(r.wait_end());
      CHECK(r.lines == Lines{"first", "last words"});
      CHECK(lines_at_end == 2);
      CHECK(r.end_status.ok());
    }
    CHECK(loop.close());
  }

  TEST_CASE("an input that ends at once gives no line and one on_end") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      pipe.close_write();
      REQUIRE(r.wait_end());
      CHECK(r.lines.empty());
      CHECK(r.end_status.ok());
    }
    CHECK(loop.close());
  }

  TEST_CASE("a line longer than max_line is cut into pieces of max_line") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop, 4);
      r.start(pipe.read_fd);
      SUBCASE("in one write") {
        pipe.write("abcdefghij\nxy\n");
        REQUIRE(r.wait_lines(4));
        CHECK(r.lines == Lines{"abcd", "efgh", "ij", "xy"});
      }
      SUBCASE("exactly max_line and twice max_line give no empty piece") {
        pipe.write("abcd\nefghijkl\nz\n");
        REQUIRE(r.wait_lines(4));
        CHECK(r.lines == Lines{"abcd", "efgh", "ijkl", "z"});
      }
      SUBCASE("across writes") {
        pipe.write("ab");
        r.settle();
        CHECK(r.lines.empty());
        pipe.write("cdef");
        REQUIRE(r.wait_lines(1));
        CHECK(r.lines == Lines{"abcd"});
        pipe.write("gh\n");
        REQUIRE(r.wait_lines(2));
        CHECK(r.lines == Lines{"abcd", "efgh"});
      }
      SUBCASE("a long last line without a newline") {
        pipe.write("0123456789");
        REQUIRE(r.wait_lines(2));
        CHECK(r.lines == Lines{"0123", "4567"});
        pipe.close_write();
        REQUIRE(r.wait_end());
        CHECK(r.lines == Lines{"0123", "4567", "89"});
      }
      r.settle();
      if (pipe.write_fd >= 0) {
        CHECK(r.ended == 0);
        pipe.close_write();
      }
      REQUIRE(r.wait_end());
      CHECK(r.ended == 1);
      for (const std::string& line : r.lines) CHECK(line.size() <= 4);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a pipe delivers a large input completely and in order") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      std::string all;
      Lines expected;
      for (int i = 0; i < 2000; ++i) {
        expected.push_back("line " + std::to_string(i) + std::string(i % 50, '.'));
        all += expected.back() + "\n";
      }
      // More than a pipe buffer holds: write in slices while the loop reads.
      std::string_view rest = all;
      while (!rest.empty()) {
        const std::string_view slice = rest.substr(0, 4096);
        pipe.write(slice);
        rest.remove_prefix(slice.size());
        r.settle();
      }
      pipe.close_write();
      REQUIRE(r.wait_end());
      CHECK(r.lines == expected);
    }
    CHECK(loop.close());
  }

  TEST_CASE("the reader may be destroyed from inside on_line") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      std::size_t destroy_at = 1;
      SUBCASE("at the first of several lines in one read") { destroy_at = 1; }
      SUBCASE("in the middle") { destroy_at = 2; }
      CAPTURE(destroy_at);
      // Only the recorder's members are touched: the hook's own storage
      // goes away with the reader.
      r.on_line_hook = [&r, destroy_at](std::string_view) {
        if (r.lines.size() == destroy_at) r.reader.reset();
      };
      r.start(pipe.read_fd);
      pipe.write("one\ntwo\nthree\nfour\n");
      REQUIRE(r.wait_lines(destroy_at));
      r.settle();
      CHECK(r.lines.size() == destroy_at);
      CHECK_FALSE(r.reader);
      pipe.close_write();
      r.settle();
      CHECK(r.lines.size() == destroy_at);
      CHECK(r.ended == 0);
    }
    CHECK(loop.close());
  }

  TEST_CASE("the reader may be destroyed from inside on_line for the last line at end of input") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.on_line_hook = [&r](std::string_view) { r.reader.reset(); };
      r.start(pipe.read_fd);
      pipe.write("unterminated");
      pipe.close_write();
      REQUIRE(r.wait_lines(1));
      r.settle();
      CHECK(r.lines == Lines{"unterminated"});
      CHECK(r.ended == 0);  // destroyed before on_end
    }
    CHECK(loop.close());
  }

  TEST_CASE("the reader may be destroyed from inside on_end") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.on_end_hook = [&r] { r.reader.reset(); };
      r.start(pipe.read_fd);
      pipe.write("x\ny");
      pipe.close_write();
      REQUIRE(r.wait_end());
      r.settle();
      CHECK(r.lines == Lines{"x", "y"});
      CHECK(r.ended == 1);
      CHECK_FALSE(r.reader);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a reader destroyed before any input closes cleanly") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      r.reader.reset();
      pipe.write("late\n");
      pipe.close_write();
      r.settle();
      CHECK(r.lines.empty());
      CHECK(r.ended == 0);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a regular file is read as input") {
    NetLoop loop;
    {
      TempFile file("one\r\ntwo\n\nlast");
      Recorder r(loop);
      r.start(file.fd());
      CHECK(r.lines.empty());  // delivered from the loop, not inside start()
      REQUIRE(r.wait_end());
      CHECK(r.lines == Lines{"one", "two", "", "last"});
      CHECK(r.end_status.ok());
      r.settle();
      CHECK(r.ended == 1);
    }
    CHECK(loop.close());
  }

  TEST_CASE("an empty regular file gives one on_end and no line") {
    NetLoop loop;
    {
      TempFile file("");
      Recorder r(loop);
      r.start(file.fd());
      REQUIRE(r.wait_end());
      CHECK(r.lines.empty());
      CHECK(r.end_status.ok());
    }
    CHECK(loop.close());
  }

  TEST_CASE("a large regular file arrives in order over several iterations, cut at max_line") {
    NetLoop loop;
    {
      std::string all;
      Lines expected;
      for (int i = 0; i < 30000; ++i) {
        expected.push_back("#" + std::to_string(i));
        all += expected.back() + "\n";
      }
      all += std::string(300, 'z') + "\n";  // longer than max_line
      expected.insert(expected.end(),
                      {std::string(128, 'z'), std::string(128, 'z'), std::string(44, 'z')});
      REQUIRE(all.size() > 2 * 65536);
      TempFile file(all);
      Recorder r(loop, 128);
      r.start(file.fd());
      REQUIRE(r.wait_end());
      CHECK(r.lines == expected);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a reader on a regular file may be destroyed from inside on_line") {
    NetLoop loop;
    {
      std::string all;
      for (int i = 0; i < 20000; ++i) all += "line " + std::to_string(i) + "\n";
      TempFile file(all);
      Recorder r(loop);
      r.on_line_hook = [&r](std::string_view) {
        if (r.lines.size() == 3) r.reader.reset();
      };
      r.start(file.fd());
      REQUIRE(r.wait_lines(3));
      for (int i = 0; i < 5; ++i) loop.run_once();
      CHECK(r.lines == Lines{"line 0", "line 1", "line 2"});
      CHECK(r.ended == 0);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a reader on a regular file destroyed before the loop runs delivers nothing") {
    NetLoop loop;
    {
      TempFile file("never\nseen\n");
      Recorder r(loop);
      r.start(file.fd());
      r.reader.reset();
      r.settle();
      CHECK(r.lines.empty());
      CHECK(r.ended == 0);
    }
    CHECK(loop.close());
  }

  TEST_CASE("the descriptor it was given stays open after the reader is gone") {
    NetLoop loop;
    {
      Pipe pipe;
      Recorder r(loop);
      r.start(pipe.read_fd);
      pipe.write("one\n");
      REQUIRE(r.wait_lines(1));
      r.reader.reset();
      r.settle();
      CHECK(::fcntl(pipe.read_fd, F_GETFD) != -1);
      // What arrives next is the caller's to read.
      pipe.write("two\n");
      char buf[16];
      CHECK(::read(pipe.read_fd, buf, sizeof buf) == 4);
      CHECK(std::string_view(buf, 4) == "two\n");
      CHECK(r.lines == Lines{"one"});
    }
    CHECK(loop.close());
  }

  TEST_CASE("a descriptor that cannot be read fails start()") {
    NetLoop loop;
    {
      int fds[2];
      REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
      ::close(fds[0]);
      ::close(fds[1]);
      Recorder r(loop);
      NetStatus status;
      CHECK_FALSE(r.reader->start(fds[0], status));
      CHECK(status.code == NetError::kReadFailed);
      r.settle();
      CHECK(r.ended == 0);
    }
    CHECK(loop.close());
  }
}

}  // namespace
}  // namespace xd::net
