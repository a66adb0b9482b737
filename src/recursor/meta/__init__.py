"""recursor researching its own research process: the meta-research task's machinery.

The meta-research task (built in, `recursor run meta-research`) is an ordinary task whose
program is a process file (recursor.settings.process) and whose harness (`recursor.meta.harness`)
runs one inner research run per seed: a seed is a (task, run seed) pair of its evaluation's task
list. Its metric is the inner run's anytime research yield, with canaries planted among the
inner run's candidates (recursor.meta.canaries). The judge, the auditor, the reports and the
discovery library work one level up unchanged.
"""
