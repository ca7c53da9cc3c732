#!/usr/bin/env bash
# Rebuilds the worked example in registry/ through the CLI, one commit per step, as a team would.
# Run from the repository root on a checkout without registry/ (it refuses to run over an existing one).
# The training outputs it registers are written under $TRAINING (default /tmp/mlreg-example-training).
set -euo pipefail
TRAINING=${TRAINING:-/tmp/mlreg-example-training}
[ -e mlreg.yaml ] && { echo "mlreg.yaml exists: this script builds a fresh example" >&2; exit 1; }
rm -rf "$TRAINING"

lgbm_run() {  # $1 run id, $2 rmse_train, $3 rmse_val, $4 rmse_test, $5 learning rate
  local dir="$TRAINING/cex/models/BINANCE_BTCUSDT.P, 60/run_$1_lgbm_y_logret_168h_huber"
  mkdir -p "$dir"
  cat > "$dir/run_metadata.json" <<JSON
{"run_name": "run_$1_lgbm_y_logret_168h_huber",
 "experiment": "binance-btcusdt-perp-1h-7d-logret",
 "training_timestamp": "$(echo "$1" | sed -E 's/(....)(..)(..)_(..)(..)(..)/\1-\2-\3T\4:\5:\6Z/')",
 "model_type": "lgbm", "target": "y_logret_168h", "objective": "huber",
 "primary_metric": "rmse", "dataset": "BINANCE_BTCUSDT.P, 60",
 "feature_list_id": "binance_btcusdt_p60_default",
 "prepared_data_dir": "$TRAINING/cex/prepared/BINANCE_BTCUSDT.P_60",
 "timeframe": "1H",
 "params": {"learning_rate": $5, "num_leaves": 63, "n_estimators": 800},
 "metrics": {"rmse_train": $2, "rmse_val": $3, "rmse_test": $4}}
JSON
  printf 'tree\nversion=v4\nnum_class=1\nobjective=huber\nfeature_names=ret_1h ret_4h rsi_14 atr_24 vol_z\n# run %s\n' "$1" > "$dir/model.txt"
  printf 'ret_1h\nret_4h\nrsi_14\natr_24\nvol_z\n' > "$dir/features.txt"
  echo "$dir"
}

rl_run() {  # $1 run id, $2 best mean reward, $3 sharpe, $4 win rate, $5 total timesteps
  local dir="$TRAINING/rl/1H/$1"
  mkdir -p "$dir"
  cat > "$dir/run_metadata.json" <<JSON
{"run_name": "$1", "experiment": "rl-stock-1h", "training_timestamp": "2025-06-10T14:17:00Z",
 "timeframe": "1H", "total_timesteps": $5, "source_data_version": "dvc:5f1c9e2",
 "hyperparameters_config_path": "configs/ppo_1h.yaml",
 "params": {"algorithm": "PPO", "n_steps": 2048, "gamma": 0.99},
 "metrics": {"evaluation/best_mean_reward": $2, "portfolio/sharpe_ratio": $3, "portfolio/win_rate": $4}}
JSON
  printf 'PK-placeholder policy weights for %s\n' "$1" > "$dir/model.zip"
  printf '{"obs_mean": 0.0, "obs_std": 1.0}\n' > "$dir/vecnormalize.json"
  echo "$dir"
}

mlreg init
M=btcusdt-1h-inference-7d-logret
mlreg register "$M" --from-dir "$(lgbm_run 20251008_145809 0.0548 0.0669 0.0448 0.03)" \
  --description "Trained 2023-2025 data, with default features from tech indicators" \
  --tag target_type=regression --tag hyperparam_tuning=true
mlreg promote "$M@1" beta --reason "Passed offline evaluation on 2025-Q3 holdout"
mlreg promote "$M@1" champion --reason "Best walk-forward backtest so far"
mlreg register "$M" --from-dir "$(lgbm_run 20251101_091500 0.0531 0.0642 0.0431 0.02)" \
  --description "Trained 2023-2025 data, default features plus funding-rate features" \
  --tag target_type=regression --tag hyperparam_tuning=true
mlreg alias set "$M" Staging 2
mlreg promote "$M@2" beta --reason "rmse_val 0.0642 < 0.0669 on the same holdout"
mlreg promote "$M@2" champion --reason "Beat v1 in two weeks of paper trading"

A=rl-agent-1h
mlreg register "$A" --from-dir "$(rl_run ppo_1h_base_20250601 100.0 1.20 0.52 100000)" \
  --description "PPO base agent, 1H bars" --tag timeframe=1H
mlreg register "$A" --from-dir "$(rl_run ppo_1h_continued_20250610 115.72 1.30 0.537 150000)" \
  --description "Continued training of v1 for 50k more steps" --tag timeframe=1H \
  --base "$A@1" --enhancement-type continued
mlreg promote "$A@2" beta --reason "Improved Sharpe ratio by 8%"
mlreg tag set "$A@2" reviewed-by risk-team
mlreg describe "$M" "BTCUSDT perpetual, 1h bars: predicts the 7-day log return (LightGBM, huber loss)"
mlreg describe "$A" "PPO trading agent on 1H bars; enhanced by continued training"
mlreg validate
