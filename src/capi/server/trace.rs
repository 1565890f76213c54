//! `TRITONSERVER_InferenceTrace`: inference tracing (the full API arrives with tracing support).

/// An inference trace object.
pub struct TRITONSERVER_InferenceTrace {
    _private: (),
}
