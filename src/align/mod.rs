//! Alignment without human labels: constitutions, their judges, and the
//! Constitutional AI / RLAIF pipeline that turns them into training data.

pub mod cai;
pub mod constitution;
pub mod judge;
