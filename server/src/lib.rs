//! Polarity inference server (to be built).
