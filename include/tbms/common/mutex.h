// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// clang's thread-safety annotations, so that `-Wthread-safety` (on in clang
// builds) checks every GUARDED_BY field is read and written with its lock
// held. Under g++ the annotations vanish.
// The hot path takes none of these (see docs/architecture.md, "Threads").
#pragma once

#include <chrono>
#include <condition_variable>
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
// For the rare access the analysis cannot prove safe; say why next to it.
#define NO_THREAD_SAFETY_ANALYSIS TBMS_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tbms {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // BasicLockable, for std templates; to wait, use CondVar below.
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
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

// A condition variable for Mutex. Callers loop on their condition
// themselves (`while (!ready_) cv_.Wait(&mu_);`): there the analysis sees
// the lock held, which it cannot inside a predicate lambda. It wraps
// std::condition_variable, not _any, so waits and notifies take no extra lock.
class CondVar {
 public:
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // the caller still holds *mu
  }
  // False if it woke because `deadline` passed.
  template <class Clock, class Dur>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Dur>& deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const std::cv_status status = cv_.wait_until(lock, deadline);
    lock.release();
    return status == std::cv_status::no_timeout;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace tbms
