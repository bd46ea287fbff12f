//! The Leptos UI: state (signals), the controller (what the UI does), and one module
//! per part of the page.

pub mod controller;
pub mod guest;
pub mod panels;
pub mod request;
pub mod state;
pub mod trace;
pub mod waterfall;
