// Tests for secret references: ${ENV} and file: resolution, and that a Secret never
// prints its value.
#include "config/secret.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/read_file.h"

namespace portcullis::config {
namespace {

class SecretTest : public testing::Test {
 protected:
  void SetUp() override {
    // One folder per test and process: CTest runs the tests of this file in parallel.
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("pc_secret_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    unsetenv("PC_TEST_SECRET");
  }
  void write(const std::string& name, const std::string& contents) {
    std::ofstream(dir_ / name, std::ios::binary) << contents;
  }
  // Resolves `text` against dir_; returns the value, or "ERROR: message".
  std::string resolve(const std::string& text) {
    Secret s;
    std::string error;
    if (!resolve_secret(parse_secret_ref(text), text, dir_.string(), s, error)) {
      return "ERROR: " + error;
    }
    return s.reveal();
  }
  std::filesystem::path dir_;
};

TEST_F(SecretTest, ParsesReferenceKinds) {
  SecretRef env = parse_secret_ref("${PEPPER}");
  EXPECT_EQ(env.kind, SecretRef::Kind::Env);
  EXPECT_EQ(env.name, "PEPPER");
  SecretRef file = parse_secret_ref("file:/run/secrets/pepper");
  EXPECT_EQ(file.kind, SecretRef::Kind::File);
  EXPECT_EQ(file.name, "/run/secrets/pepper");
  EXPECT_EQ(parse_secret_ref("plain-value").kind, SecretRef::Kind::Literal);
  EXPECT_EQ(parse_secret_ref("$PEPPER").kind, SecretRef::Kind::Literal);
}

TEST_F(SecretTest, EnvironmentVariable) {
  setenv("PC_TEST_SECRET", "s3cret", 1);
  EXPECT_EQ(resolve("${PC_TEST_SECRET}"), "s3cret");
}

TEST_F(SecretTest, UnsetOrEmptyEnvironmentVariableIsAnError) {
  unsetenv("PC_TEST_SECRET");
  EXPECT_EQ(resolve("${PC_TEST_SECRET}"),
            "ERROR: environment variable 'PC_TEST_SECRET' is not set");
  setenv("PC_TEST_SECRET", "", 1);
  EXPECT_EQ(resolve("${PC_TEST_SECRET}"), "ERROR: environment variable 'PC_TEST_SECRET' is empty");
}

TEST_F(SecretTest, MalformedEnvironmentReferenceIsAnErrorNotALiteral) {
  // A typo must not quietly turn the reference text itself into the secret.
  EXPECT_NE(resolve("${PC-TEST}").find("ERROR: invalid environment variable"), std::string::npos);
  EXPECT_NE(resolve("${PC_TEST").find("ERROR: invalid environment variable"), std::string::npos);
  EXPECT_NE(resolve("${}").find("ERROR: invalid environment variable"), std::string::npos);
}

TEST_F(SecretTest, FileDropsOneTrailingNewline) {
  write("pepper", "line1\nline2\n\n");
  EXPECT_EQ(resolve("file:" + (dir_ / "pepper").string()), "line1\nline2\n");
  write("crlf", "value\r\n");
  EXPECT_EQ(resolve("file:" + (dir_ / "crlf").string()), "value");
  write("bare", "value");
  EXPECT_EQ(resolve("file:" + (dir_ / "bare").string()), "value");
}

TEST_F(SecretTest, RelativeFileResolvesAgainstBaseDir) {
  std::filesystem::create_directories(dir_ / "secrets");
  write("secrets/key", "k\n");
  EXPECT_EQ(resolve("file:secrets/key"), "k");
}

TEST_F(SecretTest, MissingOrEmptyFileIsAnError) {
  std::string missing = (dir_ / "missing").lexically_normal().string();
  EXPECT_EQ(resolve("file:missing"),
            "ERROR: cannot read secret file '" + missing + "': No such file or directory");
  EXPECT_NE(resolve("file:.").find("Is a directory"), std::string::npos);
  write("empty", "\n");
  EXPECT_NE(resolve("file:empty").find("is empty"), std::string::npos);
  EXPECT_EQ(resolve("file:"), "ERROR: 'file:' needs a path");
}

// An endless or blocking file would hang `check` and a reload (issue 10, item 14): only
// regular files are read, and only up to kMaxSecretFileBytes.
TEST_F(SecretTest, EndlessOrBlockingFilesAreRefusedWithoutReading) {
  EXPECT_EQ(resolve("file:/dev/zero"),
            "ERROR: cannot read secret file '/dev/zero': not a regular file (a FIFO, device or "
            "socket could be endless)");
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer ever opens it: a blocking open would wait here for ever.
  EXPECT_NE(resolve("file:fifo").find("not a regular file"), std::string::npos);
}

TEST_F(SecretTest, SecretFilesAreCapped) {
  write("big", std::string(kMaxSecretFileBytes + 1, 'x'));
  EXPECT_NE(resolve("file:big").find("larger than 64 KiB"), std::string::npos);
  write("fits", std::string(kMaxSecretFileBytes, 'x'));
  EXPECT_EQ(resolve("file:fits").size(), kMaxSecretFileBytes);
}

TEST_F(SecretTest, LiteralIsUsedAsIs) {
  EXPECT_EQ(resolve("not-a-reference"), "not-a-reference");
}

TEST_F(SecretTest, ErrorsNeverContainTheValue) {
  write("x", "");
  setenv("PC_TEST_SECRET", "hunter2", 1);
  Secret s;
  std::string error;
  // A failing lookup next to a set variable: the message names the source only.
  EXPECT_FALSE(resolve_secret(parse_secret_ref("file:x"), "file:x", dir_.string(), s, error));
  EXPECT_EQ(error.find("hunter2"), std::string::npos);
}

TEST_F(SecretTest, PrintingASecretRedactsIt) {
  std::ostringstream out;
  out << Secret("hunter2");
  EXPECT_EQ(out.str(), "[redacted]");
}

}  // namespace
}  // namespace portcullis::config
