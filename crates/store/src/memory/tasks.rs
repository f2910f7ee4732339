//! Tasks and callbacks in memory, and their part of [`natsapi_core::Tx`].

use std::collections::{BTreeMap, HashMap, HashSet};

use natsapi_core::{Callback, CallbackTx, Task, TaskState, TaskTx, TxError};

use super::{ReadOnly, UndoTx};

/// Tasks by id, with the live ones indexed in insertion order.
#[derive(Default)]
pub struct TaskTable {
    tasks: HashMap<String, Task>,
    /// `sort_id → id` of every INIT, ENQUEUED or CLAIMED task.
    active: BTreeMap<i64, String>,
    last_sort_id: i64,
}

impl TaskTable {
    fn get(&self, id: &str) -> Option<Task> {
        self.tasks.get(id).cloned()
    }

    fn active(&self) -> impl Iterator<Item = &Task> {
        self.active.values().filter_map(|id| self.tasks.get(id))
    }

    fn insert(&mut self, task: &mut Task) -> bool {
        if self.tasks.contains_key(&task.id) {
            return false;
        }
        self.last_sort_id += 1;
        task.sort_id = self.last_sort_id;
        self.put(task.clone());
        true
    }

    /// Stores `task` under its id, keeping the live index right; returns what was there.
    fn put(&mut self, task: Task) -> Option<Task> {
        if task.state.is_active() {
            self.active.insert(task.sort_id, task.id.clone());
        } else {
            self.active.remove(&task.sort_id);
        }
        self.tasks.insert(task.id.clone(), task)
    }

    fn remove(&mut self, id: &str) {
        if let Some(task) = self.tasks.remove(id) {
            self.active.remove(&task.sort_id);
            if task.sort_id == self.last_sort_id {
                self.last_sort_id -= 1;
            }
        }
    }

    fn update(&mut self, task: &Task) -> Result<Task, TxError> {
        let Some(stored) = self.tasks.get(&task.id) else {
            return Err(TxError::msg(format!("update of unknown task {:?}", task.id)));
        };
        let mut updated = task.clone();
        updated.sort_id = stored.sort_id;
        updated.root_promise_id = stored.root_promise_id.clone();
        updated.recv = stored.recv.clone();
        updated.mesg = stored.mesg.clone();
        updated.created_on = stored.created_on;
        self.put(updated)
            .ok_or_else(|| TxError::msg(format!("task {:?} vanished during update", task.id)))
    }

    fn active_of_root(&self, root: &str) -> Vec<Task> {
        self.active().filter(|t| t.root_promise_id == root).cloned().collect()
    }

    /// Roots with a task delivered or claimed: nothing else of theirs goes out meanwhile.
    fn busy_roots(&self) -> HashSet<&str> {
        self.active()
            .filter(|t| matches!(t.state, TaskState::Enqueued | TaskState::Claimed))
            .map(|t| t.root_promise_id.as_str())
            .collect()
    }

    fn deliverable(&self, now: i64, limit: usize) -> Vec<Task> {
        let busy = self.busy_roots();
        let mut seen = HashSet::new();
        self.active()
            .filter(|t| t.state == TaskState::Init && t.expires_at <= now)
            .filter(|t| !busy.contains(t.root_promise_id.as_str()))
            .filter(|t| seen.insert(t.root_promise_id.as_str()))
            .take(limit)
            .cloned()
            .collect()
    }

    fn expired(&self, now: i64, limit: usize) -> Vec<Task> {
        self.active()
            .filter(|t| matches!(t.state, TaskState::Enqueued | TaskState::Claimed))
            .filter(|t| (t.expires_at != 0 && t.expires_at <= now) || t.timeout <= now)
            .take(limit)
            .cloned()
            .collect()
    }

    fn claimed_by(&self, process_id: &str) -> Vec<Task> {
        self.active()
            .filter(|t| {
                t.state == TaskState::Claimed && t.process_id.as_deref() == Some(process_id)
            })
            .cloned()
            .collect()
    }

    fn next_deadline(&self) -> Option<i64> {
        let busy = self.busy_roots();
        self.active()
            .filter_map(|t| match t.state {
                TaskState::Init if !busy.contains(t.root_promise_id.as_str()) => Some(t.expires_at),
                TaskState::Enqueued | TaskState::Claimed if t.expires_at != 0 => {
                    Some(t.expires_at.min(t.timeout))
                }
                TaskState::Enqueued | TaskState::Claimed => Some(t.timeout),
                _ => None,
            })
            .min()
    }
}

/// Callbacks by the promise they wait on, oldest first.
#[derive(Default)]
pub struct CallbackTable {
    by_promise: HashMap<String, Vec<Callback>>,
    ids: HashSet<String>,
}

impl CallbackTable {
    fn insert(&mut self, callback: &Callback) -> bool {
        if !self.ids.insert(callback.id.clone()) {
            return false;
        }
        self.by_promise.entry(callback.promise_id.clone()).or_default().push(callback.clone());
        true
    }

    fn remove(&mut self, callback: &Callback) {
        self.ids.remove(&callback.id);
        if let Some(list) = self.by_promise.get_mut(&callback.promise_id) {
            list.retain(|c| c.id != callback.id);
            if list.is_empty() {
                self.by_promise.remove(&callback.promise_id);
            }
        }
    }

    fn take(&mut self, promise_id: &str) -> Vec<Callback> {
        let taken = self.by_promise.remove(promise_id).unwrap_or_default();
        for callback in &taken {
            self.ids.remove(&callback.id);
        }
        taken
    }

    fn restore(&mut self, callbacks: Vec<Callback>) {
        for callback in callbacks {
            self.insert(&callback);
        }
    }
}

impl TaskTx for ReadOnly<'_> {
    fn task(&mut self, id: &str) -> Result<Option<Task>, TxError> {
        Ok(self.0.tasks.get(id))
    }

    fn insert_task(&mut self, _: &mut Task) -> Result<bool, TxError> {
        Err(TxError::needs_write())
    }

    fn update_task(&mut self, _: &Task) -> Result<(), TxError> {
        Err(TxError::needs_write())
    }

    fn active_tasks_of_root(&mut self, root: &str) -> Result<Vec<Task>, TxError> {
        Ok(self.0.tasks.active_of_root(root))
    }

    fn deliverable_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError> {
        Ok(self.0.tasks.deliverable(now, limit))
    }

    fn expired_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError> {
        Ok(self.0.tasks.expired(now, limit))
    }

    fn claimed_tasks(&mut self, process_id: &str) -> Result<Vec<Task>, TxError> {
        Ok(self.0.tasks.claimed_by(process_id))
    }

    fn next_task_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.0.tasks.next_deadline())
    }
}

impl TaskTx for UndoTx<'_> {
    fn task(&mut self, id: &str) -> Result<Option<Task>, TxError> {
        Ok(self.state.tasks.get(id))
    }

    fn insert_task(&mut self, task: &mut Task) -> Result<bool, TxError> {
        if !self.state.tasks.insert(task) {
            return Ok(false);
        }
        let id = task.id.clone();
        self.on_rollback(move |state| state.tasks.remove(&id));
        Ok(true)
    }

    fn update_task(&mut self, task: &Task) -> Result<(), TxError> {
        let before = self.state.tasks.update(task)?;
        self.on_rollback(move |state| {
            state.tasks.put(before);
        });
        Ok(())
    }

    fn active_tasks_of_root(&mut self, root: &str) -> Result<Vec<Task>, TxError> {
        Ok(self.state.tasks.active_of_root(root))
    }

    fn deliverable_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError> {
        Ok(self.state.tasks.deliverable(now, limit))
    }

    fn expired_tasks(&mut self, now: i64, limit: usize) -> Result<Vec<Task>, TxError> {
        Ok(self.state.tasks.expired(now, limit))
    }

    fn claimed_tasks(&mut self, process_id: &str) -> Result<Vec<Task>, TxError> {
        Ok(self.state.tasks.claimed_by(process_id))
    }

    fn next_task_deadline(&mut self) -> Result<Option<i64>, TxError> {
        Ok(self.state.tasks.next_deadline())
    }
}

impl CallbackTx for ReadOnly<'_> {
    fn insert_callback(&mut self, _: &Callback) -> Result<bool, TxError> {
        Err(TxError::needs_write())
    }

    fn take_callbacks(&mut self, _: &str) -> Result<Vec<Callback>, TxError> {
        Err(TxError::needs_write())
    }
}

impl CallbackTx for UndoTx<'_> {
    fn insert_callback(&mut self, callback: &Callback) -> Result<bool, TxError> {
        if !self.state.callbacks.insert(callback) {
            return Ok(false);
        }
        let inserted = callback.clone();
        self.on_rollback(move |state| state.callbacks.remove(&inserted));
        Ok(true)
    }

    fn take_callbacks(&mut self, promise_id: &str) -> Result<Vec<Callback>, TxError> {
        let taken = self.state.callbacks.take(promise_id);
        if !taken.is_empty() {
            let restored = taken.clone();
            self.on_rollback(move |state| state.callbacks.restore(restored));
        }
        Ok(taken)
    }
}
