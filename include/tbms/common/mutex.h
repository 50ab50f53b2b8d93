// Mutex and MutexLock: std::mutex with clang's thread-safety annotations, so
// that `-Wthread-safety` (on in clang builds) checks every GUARDED_BY field
// is read and written with its lock held. Under g++ the annotations vanish.
// The hot path takes none of these (see docs/architecture.md, "Threads").
#pragma once

#include <mutex>

#if defined(__clang__)
#define TBMS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TBMS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) TBMS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY TBMS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) TBMS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) TBMS_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) TBMS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) TBMS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) TBMS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TBMS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))

namespace tbms {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // For std::condition_variable_any and std::unique_lock.
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace tbms
