//! placeholder, replaced in this issue

