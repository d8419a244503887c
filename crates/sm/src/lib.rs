//! XEP-0198 (in progress)
