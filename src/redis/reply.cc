// The reply reader: hiredis's RESP reader with object functions that build Reply values. A
// reply is built in one heap Reply owned by the State (the root); its elements live in their
// parent's vector, sized when the array is announced, so the pointers hiredis keeps to them
// stay valid until the root is taken out.
#include "redis/reply.h"

#include <hiredis/read.h>

namespace portcullis::redis {

struct ReplyReader::State {
  redisReader* reader = nullptr;
  std::unique_ptr<Reply> root;  // the reply being built
  std::size_t bytes = 0;        // string bytes in it so far
  std::string limit_error;      // set when a bound refused a value
};

namespace {

using State = ReplyReader::State;

State& state_of(const redisReadTask* task) {
  // Only the root task carries the reader's privdata; the others find it through parents.
  while (task->parent != nullptr) task = task->parent;
  return *static_cast<State*>(task->privdata);
}

// Where a new value goes: a fresh root, or its slot in the parent array.
Reply* place(const redisReadTask* task) {
  State& s = state_of(task);
  if (task->parent == nullptr) {
    s.root = std::make_unique<Reply>();
    s.bytes = 0;
    return s.root.get();
  }
  auto* parent = static_cast<Reply*>(task->parent->obj);
  if (parent == nullptr || task->idx < 0 ||
      static_cast<std::size_t>(task->idx) >= parent->elements.size()) {
    s.limit_error = "reply element out of place";
    return nullptr;
  }
  return &parent->elements[static_cast<std::size_t>(task->idx)];
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  State& s = state_of(task);
  if (len > kMaxReplyBytes || s.bytes + len > kMaxReplyBytes) {
    s.limit_error = "reply larger than " + std::to_string(kMaxReplyBytes) + " bytes";
    return nullptr;
  }
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  s.bytes += len;
  switch (task->type) {
    case REDIS_REPLY_ERROR:
      r->type = Reply::Type::Error;
      break;
    case REDIS_REPLY_STATUS:
      r->type = Reply::Type::Status;
      break;
    default:
      r->type = Reply::Type::String;
      break;
  }
  r->str.assign(str, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  State& s = state_of(task);
  if (elements < 0 || static_cast<std::size_t>(elements) > kMaxArrayElements) {
    s.limit_error = "reply array of " + std::to_string(elements) + " elements (at most " +
                    std::to_string(kMaxArrayElements) + ")";
    return nullptr;
  }
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::Array;
  r->elements.resize(static_cast<std::size_t>(elements));
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::Integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::Nil;
  return r;
}

// hiredis frees only the root it holds (on an error, or when the reader goes); the State owns
// it, so there is nothing to do here.
void free_object(void*) {}

redisReplyObjectFunctions kFunctions = {create_string, create_array, create_integer, create_nil,
                                        free_object};

}  // namespace

ReplyReader::ReplyReader() : state_(std::make_unique<State>()) {
  state_->reader = redisReaderCreateWithFunctions(&kFunctions);
  if (state_->reader == nullptr) {
    error_ = "out of memory";
    return;
  }
  state_->reader->privdata = state_.get();
}

ReplyReader::~ReplyReader() {
  if (state_->reader != nullptr) redisReaderFree(state_->reader);
}

bool ReplyReader::feed(std::string_view bytes) {
  if (failed()) return false;
  redisReader* r = state_->reader;
  // Bytes waiting for the rest of a reply: a reply can never be larger than the bounds, so
  // more than that waiting means a stream that will never make sense.
  if (r->len - r->pos + bytes.size() > kMaxReplyBytes + 4096) {
    error_ = "reply larger than " + std::to_string(kMaxReplyBytes) + " bytes";
    return false;
  }
  if (redisReaderFeed(r, bytes.data(), bytes.size()) != REDIS_OK) {
    error_ = r->errstr[0] != '\0' ? r->errstr : "cannot buffer the reply";
    return false;
  }
  return true;
}

std::optional<Reply> ReplyReader::next() {
  if (failed()) return std::nullopt;
  void* out = nullptr;
  if (redisReaderGetReply(state_->reader, &out) != REDIS_OK) {
    error_ = !state_->limit_error.empty()        ? state_->limit_error
             : state_->reader->errstr[0] != '\0' ? state_->reader->errstr
                                                 : "protocol error";
    state_->root.reset();
    return std::nullopt;
  }
  if (out == nullptr || out != state_->root.get()) return std::nullopt;
  Reply reply = std::move(*state_->root);
  state_->root.reset();
  return reply;
}

}  // namespace portcullis::redis
