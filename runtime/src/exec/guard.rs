//! Containment of panics from component code. A component compiled into a
//! dynamic library runs with that library's own copy of std, and a panic
//! from one copy that unwinds into frames of another aborts the process.
//! So every call into component code is caught in generic code, which is
//! compiled together with the component: here for destructors.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The message of a caught panic (its `&str` or `String` payload), for
/// reports: every catch site of the runtime and of reload words it alike.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A component whose destructor's panics are caught and logged, not
/// propagated.
pub(crate) struct Guarded<T>(ManuallyDrop<T>);

impl<T> Guarded<T> {
    pub(crate) fn new(value: T) -> Self {
        Guarded(ManuallyDrop::new(value))
    }

    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the value is taken exactly
        // once and `Guarded::drop` does not run for it.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<T> Deref for Guarded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Guarded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        // SAFETY: drop runs once, and the value is not used afterwards.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.0)
        }));
        if dropped.is_err() {
            tracing::error!(
                "the destructor of `{}` panicked; the panic was contained",
                std::any::type_name::<T>()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Guarded;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    struct Loud(bool);

    impl Drop for Loud {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
            if self.0 {
                panic!("loud drop");
            }
        }
    }

    #[test]
    fn drops_once_contains_panics_and_gives_the_value_back_undropped() {
        drop(Guarded::new(Loud(true)));
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        let inner = Guarded::new(Loud(false)).into_inner();
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        drop(inner);
        assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    }
}
