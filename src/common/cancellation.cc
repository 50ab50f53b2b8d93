#include "tbms/common/cancellation.h"

#include <cassert>

namespace tbms {

void Cancellation::Cancel() const {
  MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  if (stop_ != nullptr) (*stop_)();
}

bool Cancellation::cancelled() const {
  MutexLock lock(&mu_);
  return cancelled_;
}

void Cancellation::Reset() const {
  MutexLock lock(&mu_);
  assert(stop_ == nullptr);
  cancelled_ = false;
}

Cancellation::Registration::Registration(const Cancellation* cancellation, const std::function<void()>& stop)
    : cancellation_(cancellation) {
  if (cancellation_ == nullptr) return;
  MutexLock lock(&cancellation_->mu_);
  assert(cancellation_->stop_ == nullptr);
  cancellation_->stop_ = &stop;
  if (cancellation_->cancelled_) stop();
}

Cancellation::Registration::~Registration() {
  if (cancellation_ == nullptr) return;
  MutexLock lock(&cancellation_->mu_);
  cancellation_->stop_ = nullptr;
}

}  // namespace tbms
