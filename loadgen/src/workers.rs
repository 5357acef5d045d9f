//! Closed-loop workers: a fixed number of clients, each taking the next piece of work as soon
//! as its last one is done (the mode that finds the highest rate a service sustains).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, going on with the data when another worker panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `work` on every item, `concurrency` at a time, and waits for all of them.
pub async fn each<T, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> anyhow::Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let queue = Arc::new(Mutex::new(items.into_iter()));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (queue, work) = (queue.clone(), work.clone());
            tokio::spawn(async move {
                loop {
                    let next = lock(&queue).next();
                    let Some(item) = next else { break };
                    work(item).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_item_is_worked_on_once() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let record = done.clone();
        each((0..100).collect(), 4, move |n: u32| {
            let record = record.clone();
            async move { lock(&record).push(n) }
        })
        .await
        .unwrap();
        let mut done = lock(&done).clone();
        done.sort_unstable();
        assert_eq!(done, (0..100).collect::<Vec<_>>());
    }
}
