fn transfer(bank: &concurrency_lab::race::Bank, from: usize, to: usize, amount: i64) -> bool {
    // Lock both accounts for the whole check-then-act, the lower number
    // first: two opposite transfers then cannot deadlock (chapter 12).
    let _first = bank.lock(from.min(to));
    let _second = bank.lock(from.max(to));
    let have = bank.balance(from);
    if have < amount {
        return false;
    }
    bank.set_balance(from, have - amount);
    let there = bank.balance(to);
    bank.set_balance(to, there + amount);
    true
} // both locks released here
