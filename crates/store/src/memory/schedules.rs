//! Schedules in memory: the table, its indexes, and the schedule part of [`natsapi_core::Tx`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use natsapi_core::schedule::ScheduleFilter;
use natsapi_core::{Schedule, ScheduleTx, TxError};

use super::{ReadOnly, UndoTx};

/// Schedules indexed by id, insertion order and next run time.
#[derive(Default)]
pub struct ScheduleTable {
    schedules: HashMap<String, Schedule>,
    by_sort_id: BTreeMap<i64, String>,
    /// `(next_run_time, sort_id)` of every schedule.
    runs: BTreeSet<(i64, i64)>,
    last_sort_id: i64,
}

impl ScheduleTable {
    fn get(&self, id: &str) -> Option<Schedule> {
        self.schedules.get(id).cloned()
    }

    /// Schedules matching `filter` below sort id `before`, newest first.
    fn search(&self, filter: &ScheduleFilter, before: Option<i64>, limit: usize) -> Vec<Schedule> {
        let upper = before.unwrap_or(i64::MAX);
        self.by_sort_id
            .range(..upper)
            .rev()
            .filter_map(|(_, id)| self.schedules.get(id))
            .filter(|s| filter.matches(s))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Schedules due at `now`, earliest run first.
    fn due(&self, now: i64, limit: usize) -> Vec<Schedule> {
        self.runs
            .range(..=(now, i64::MAX))
            .take(limit)
            .filter_map(|(_, sort_id)| self.by_sort_id.get(sort_id))
            .filter_map(|id| self.schedules.get(id))
            .cloned()
            .collect()
    }

    fn next_run(&self) -> Option<i64> {
        self.runs.first().map(|(run, _)| *run)
    }

    /// Inserts `schedule` with the next sort id unless its id is taken; returns whether it did.
    /// Sort ids are never reused, even after a delete.
    fn insert(&mut self, schedule: &mut Schedule) -> bool {
        if self.schedules.contains_key(&schedule.id) {
            return false;
        }
        self.last_sort_id += 1;
        schedule.sort_id = self.last_sort_id;
        self.put(schedule.clone());
        true
    }

    /// Stores a schedule under the sort id it carries.
    fn put(&mut self, schedule: Schedule) {
        self.runs.insert((schedule.next_run_time, schedule.sort_id));
        self.by_sort_id.insert(schedule.sort_id, schedule.id.clone());
        self.schedules.insert(schedule.id.clone(), schedule);
    }

    /// Removes a schedule and returns it.
    fn remove(&mut self, id: &str) -> Option<Schedule> {
        let schedule = self.schedules.remove(id)?;
        self.by_sort_id.remove(&schedule.sort_id);
        self.runs.remove(&(schedule.next_run_time, schedule.sort_id));
        Some(schedule)
    }

    /// Removes a schedule inserted by a job that failed, and gives its sort id back.
    fn remove_inserted(&mut self, id: &str) {
        if let Some(schedule) = self.remove(id)
            && schedule.sort_id == self.last_sort_id
        {
            self.last_sort_id -= 1;
        }
    }

    /// Sets the run times of a schedule; returns the schedule as it was before.
    fn advance(&mut self, id: &str, last_run: i64, next_run: i64) -> Result<Schedule, TxError> {
        let Some(stored) = self.schedules.get_mut(id) else {
            return Err(TxError::msg(format!("advance of unknown schedule {id:?}")));
        };
        let before = stored.clone();
        self.runs.remove(&(stored.next_run_time, stored.sort_id));
        stored.last_run_time = Some(last_run);
        stored.next_run_time = next_run;
        self.runs.insert((next_run, stored.sort_id));
        Ok(before)
    }

    /// Puts back a schedule as it was before a change that is being undone.
    fn restore(&mut self, before: Schedule) {
        self.remove(&before.id);
        self.put(before);
    }
}

impl ScheduleTx for ReadOnly<'_> {
    fn schedule(&mut self, id: &str) -> Result<Option<Schedule>, TxError> {
        Ok(self.0.schedules.get(id))
    }

    fn insert_schedule(&mut self, _: &mut Schedule) -> Result<bool, TxError> {
        Err(TxError::needs_write())
    }

    fn delete_schedule(&mut self, _: &str) -> Result<bool, TxError> {
        Err(TxError::needs_write())
    }

    fn search_schedules(
        &mut self,
        filter: &ScheduleFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Schedule>, TxError> {
        Ok(self.0.schedules.search(filter, before, limit))
    }

    fn due_schedules(&mut self, now: i64, limit: usize) -> Result<Vec<Schedule>, TxError> {
        Ok(self.0.schedules.due(now, limit))
    }

    fn advance_schedule(&mut self, _: &str, _: i64, _: i64) -> Result<(), TxError> {
        Err(TxError::needs_write())
    }

    fn next_schedule_run(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.0.schedules.next_run())
    }
}

impl ScheduleTx for UndoTx<'_> {
    fn schedule(&mut self, id: &str) -> Result<Option<Schedule>, TxError> {
        Ok(self.state.schedules.get(id))
    }

    fn insert_schedule(&mut self, schedule: &mut Schedule) -> Result<bool, TxError> {
        if !self.state.schedules.insert(schedule) {
            return Ok(false);
        }
        let id = schedule.id.clone();
        self.on_rollback(move |state| state.schedules.remove_inserted(&id));
        Ok(true)
    }

    fn delete_schedule(&mut self, id: &str) -> Result<bool, TxError> {
        let Some(removed) = self.state.schedules.remove(id) else {
            return Ok(false);
        };
        self.on_rollback(move |state| state.schedules.put(removed));
        Ok(true)
    }

    fn search_schedules(
        &mut self,
        filter: &ScheduleFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Schedule>, TxError> {
        Ok(self.state.schedules.search(filter, before, limit))
    }

    fn due_schedules(&mut self, now: i64, limit: usize) -> Result<Vec<Schedule>, TxError> {
        Ok(self.state.schedules.due(now, limit))
    }

    fn advance_schedule(&mut self, id: &str, last_run: i64, next_run: i64) -> Result<(), TxError> {
        let before = self.state.schedules.advance(id, last_run, next_run)?;
        self.on_rollback(move |state| state.schedules.restore(before));
        Ok(())
    }

    fn next_schedule_run(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.state.schedules.next_run())
    }
}
